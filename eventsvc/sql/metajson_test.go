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

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name    string
		meta    string
		want    message.Metadata
		wantErr bool
	}{
		{name: "null", meta: "null", want: message.Metadata{}},
		{name: "empty", meta: "{}", want: message.Metadata{}},
		{name: "escapes", meta: `{"a\"b":"c\\d\u2028\n\ud83c\udf89","x":"<&>"}`, want: message.Metadata{`a"b`: "c\\d\u2028\n🎉", "x": "<&>"}},
		{name: "last duplicate wins", meta: `{"k":"1","k":"2"}`, want: message.Metadata{"k": "2"}},
		{name: "not a string", meta: `{"k":1}`, wantErr: true},
		{name: "not an object", meta: `["k"]`, wantErr: true},
		{name: "truncated", meta: `{"k":"v"`, wantErr: true},
		{name: "invalid utf-8", meta: "{\"k\":\"\x81\"}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMetadata(tt.meta)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// FuzzParseMetadata: what appendMetadata writes reads back as encoding/json reads it, and
// any input parseMetadata accepts is read as encoding/json reads it.
func FuzzParseMetadata(f *testing.F) {
	f.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", `{"a":"\u00e9"}`)
	f.Add("\xff", "\u2028<\x00>", `{"k":1}`)
	f.Fuzz(func(t *testing.T, k, v, raw string) {
		written := string(appendMetadata(nil, message.Metadata{k: v}))
		for _, in := range []string{written, raw} {
			got, err := parseMetadata(in)
			if err != nil {
				if in == written {
					t.Fatalf("parseMetadata(%s): %v", in, err)
				}
				continue
			}
			var want message.Metadata
			if err := json.Unmarshal([]byte(in), &want); err != nil {
				t.Fatalf("parseMetadata accepted %q, which json.Unmarshal refuses: %v", in, err)
			}
			if want == nil {
				want = message.Metadata{}
			}
			require.Equal(t, want, got, "input %q", in)
		}
	})
}
