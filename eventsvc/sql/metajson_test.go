package sqlbus

import (
	"encoding/json"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
)

func TestAppendMetadataIsMarshal(t *testing.T) {
	tests := []struct {
		name string
		meta message.Metadata
	}{
		{"nil", nil},
		{"empty", message.Metadata{}},
		{"sorted keys", message.Metadata{"b": "2", "a": "1", "x-github-event": "push", "A": "0"}},
		{"quotes and backslashes", message.Metadata{`k"ey`: `va\lue "x"`}},
		{"control characters", message.Metadata{"c": "\x00\x01\b\f\n\r\t\x1f\x7f"}},
		{"html", message.Metadata{"h": "<script>&amp;</script>"}},
		{"line separators", message.Metadata{"l": "a\u2028b\u2029c"}},
		{"invalid utf-8", message.Metadata{"\xff": "a\xc3(b\xed\xa0\x80"}},
		{"multi-byte", message.Metadata{"ü": "日本語 🎉"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.meta)
			require.NoError(t, err)
			require.Equal(t, string(want), string(appendMetadata(nil, tt.meta)))
		})
	}
}

func FuzzAppendMetadata(f *testing.F) {
	f.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k", "\u2028<\xff>")
	f.Add("", "", "\x00", "\"\\")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m := message.Metadata{k1: v1, k2: v2}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendMetadata(nil, m); string(got) != string(want) {
			t.Fatalf("appendMetadata(%q) = %s, json.Marshal = %s", m, got, want)
		}
	})
}
