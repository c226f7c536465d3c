package eventsvc

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/): version-traceid-parentid-flags,
// lower-case hex: "00-" 32 hex "-" 16 hex "-" 2 hex.

// validTraceparent reports whether tp is a well-formed version-00 traceparent with non-zero
// ids.
func validTraceparent(tp string) bool {
	// By position, not strings.Split: this runs for every delivery and publish.
	if len(tp) != 55 || tp[:3] != "00-" || tp[35] != '-' || tp[52] != '-' {
		return false
	}
	traceID, spanID, flags := tp[3:35], tp[36:52], tp[53:]
	return isLowerHex(traceID) && isLowerHex(spanID) && isLowerHex(flags) &&
		strings.Trim(traceID, "0") != "" && strings.Trim(spanID, "0") != ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !lowerHex[s[i]] {
			return false
		}
	}
	return true
}

// lowerHex marks the bytes of lower-case hex: a table lookup per byte, where two range
// checks cost measurably on every delivery.
var lowerHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdef" {
		t[c] = true
	}
	return t
}()

// Trace and span ids come from math/rand/v2's per-goroutine ChaCha8 generator, seeded from
// the system: unpredictable enough for tracing, and far cheaper than crypto/rand on the hot
// path.
func appendRandomHex(b []byte, words int) []byte {
	var buf [8]byte
	for range words {
		v := rand.Uint64()
		for i := range buf {
			buf[i] = byte(v >> (8 * i))
		}
		b = hex.AppendEncode(b, buf[:])
	}
	return b
}

// newTraceparent starts a new sampled trace.
func newTraceparent() string {
	b := make([]byte, 0, 55)
	b = append(b, "00-"...)
	b = appendRandomHex(b, 2)
	b = append(b, '-')
	b = appendRandomHex(b, 1)
	return string(append(b, "-01"...))
}

// childTraceparent continues tp's trace with a new span id (the handler's span); an invalid
// tp starts a new trace. The result is always valid.
func childTraceparent(tp string) string {
	if !validTraceparent(tp) {
		return newTraceparent()
	}
	b := make([]byte, 0, 55)
	b = append(b, tp[:36]...)
	b = appendRandomHex(b, 1)
	return string(append(b, tp[52:]...))
}

// traceID returns the trace id of a valid traceparent, or "".
func traceID(tp string) string {
	if !validTraceparent(tp) {
		return ""
	}
	return tp[3:35]
}
