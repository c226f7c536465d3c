package signin

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestState(t *testing.T) {
	t.Parallel()
	st := state{nonce: "n0nce", env: "production", origin: "https://portal.example", flow: "redirect", redirectURL: "/catalog?x=1&y=2"}
	got, ok := decodeState(st.encode())
	require.True(t, ok)
	require.Equal(t, st, got)
	for _, bad := range []string{"", "!!!", "ZW52PXByb2R1Y3Rpb24" /* env=production, no nonce */, "%zz"} {
		_, ok := decodeState(bad)
		require.False(t, ok, bad)
	}
}

func TestAllowedRedirect(t *testing.T) {
	t.Parallel()
	s, err := New(Options{BaseURL: "https://stagebus.example", ExtraOrigins: []string{"https://portal.example"}})
	require.NoError(t, err)
	for target, want := range map[string]bool{
		"/":                              true,
		"/catalog/entity?x=1":            true,
		"https://stagebus.example/x":     true,
		"https://portal.example/home":    true,
		"//evil.example/x":               false,
		"/\t/evil.example":               false,
		"/\n/evil.example":               false,
		"/x\\y":                          false,
		`/\evil.example`:                 false,
		"https://evil.example/":          false,
		"http://stagebus.example/":       false,
		"javascript:alert(1)":            false,
		"https://portal.example.evil.io": false,
		"":                               false,
	} {
		require.Equal(t, want, s.allowedRedirect(target), target)
	}
}

// FuzzDecodeState: a state from the query string never panics, and what decodes encodes back
// to the same state.
func FuzzDecodeState(f *testing.F) {
	f.Add(state{nonce: "n", env: "development", origin: "http://localhost:3000", flow: "popup"}.encode())
	f.Add("bm9uY2U9Zm9yZ2Vk")
	f.Fuzz(func(t *testing.T, s string) {
		st, ok := decodeState(s)
		if !ok {
			return
		}
		again, ok := decodeState(st.encode())
		if !ok || again != st {
			t.Fatalf("%q decodes to %+v, which round-trips to %+v", s, st, again)
		}
	})
}
