package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"
)

// PayloadShown bounds the part of a payload that ShowPayload shows.
const PayloadShown = 256 << 10

// ShowPayload returns an event's payload as a page shows it: indented JSON, UTF-8 text, or
// hex for binary, cut at PayloadShown (a cut payload is not reformatted).
func ShowPayload(b []byte) (text string, isJSON, binary, truncated bool) {
	if len(b) > PayloadShown {
		b, truncated = b[:PayloadShown], true
	}
	if !truncated && json.Valid(b) {
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err == nil {
			return out.String(), true, false, false
		}
	}
	if utf8.Valid(b) {
		return string(b), false, false, truncated
	}
	return fmt.Sprintf("% x", b), false, true, truncated
}

// Pair is a name and its value: one entry of an event's metadata, say.
type Pair struct{ Name, Value string }

// SortedPairs returns m's entries sorted by name.
func SortedPairs(m map[string]string) []Pair {
	out := make([]Pair, 0, len(m))
	for k, v := range m {
		out = append(out, Pair{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
