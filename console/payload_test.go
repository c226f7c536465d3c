package console

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShowPayload: JSON is indented, text shown as is, binary in hex, and what is beyond
// the viewer's limit is cut (and then not reformatted).
func TestShowPayload(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("a"), PayloadShown+10)
	for _, tc := range []struct {
		name                    string
		in                      []byte
		want                    string
		json, binary, truncated bool
	}{
		{"json", []byte(`{"a":[1,2]}`), "{\n  \"a\": [\n    1,\n    2\n  ]\n}", true, false, false},
		{"text", []byte("hello\nworld"), "hello\nworld", false, false, false},
		{"binary", []byte{0xff, 0x00, 0x10}, "ff 00 10", false, true, false},
		{"empty", nil, "", false, false, false},
		{"too big", big, string(big[:PayloadShown]), false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, isJSON, binary, truncated := ShowPayload(tc.in)
			require.Equal(t, tc.want, text)
			require.Equal(t, []bool{tc.json, tc.binary, tc.truncated}, []bool{isJSON, binary, truncated})
		})
	}
}

func TestSortedPairs(t *testing.T) {
	t.Parallel()
	require.Equal(t, []Pair{{"a", "1"}, {"b", "2"}, {"c", "3"}}, SortedPairs(map[string]string{"c": "3", "a": "1", "b": "2"}))
	require.Empty(t, SortedPairs(nil))
}
