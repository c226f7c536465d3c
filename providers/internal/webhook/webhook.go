package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// FromHeader returns an ingress.Source EventName that reads the first non-empty of the given
// headers, repeated values joined with ", " as the ingress joins them in the event's metadata:
// the sub-topic's name is the header subscribers see.
func FromHeader(names ...string) func(http.Header, []byte) string {
	return func(h http.Header, _ []byte) string {
		for _, n := range names {
			if vs := h.Values(n); len(vs) > 0 {
				if v := strings.Join(vs, ", "); v != "" {
					return v
				}
			}
		}
		return ""
	}
}

// maxLogged bounds an unsigned, sender-chosen value written to a log line.
const maxLogged = 100

// Clip shortens s to at most 100 bytes (on a rune boundary) for logs and error messages.
func Clip(s string) string {
	if len(s) <= maxLogged {
		return s
	}
	cut := maxLogged
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// HMAC returns an ingress.HMACVerifier of hex HMAC-SHA256 signatures in the first present of
// headers, after prefix, or nil when no secret is configured: the ingress then refuses the
// topic unless it is marked insecure.
func HMAC(headers []string, prefix string, secrets ingress.Secrets) ingress.Verifier {
	if len(secrets) == 0 {
		return nil
	}
	return ingress.HMACVerifier{Headers: headers, Prefix: prefix, Encoding: ingress.Hex, Secrets: secrets}
}

// ValidateSecrets reports each empty secret of the list configured at key: an empty HMAC key or
// token is one anybody can sign with.
func ValidateSecrets(key string, secrets ingress.Secrets) error {
	var errs []error
	for i, s := range secrets {
		if s.Value() == "" {
			k := key
			if len(secrets) > 1 {
				k = fmt.Sprintf("%s[%d]", key, i)
			}
			errs = append(errs, config.Fieldf(k, "must not be empty; leave the key out (and mark the topic insecure) to accept unsigned requests"))
		}
	}
	return errors.Join(errs...)
}

// String returns the string at a gjson path of a JSON payload, "" when it is absent or not a
// string.
func String(payload []byte, path string) string {
	r := gjson.GetBytes(payload, path)
	if r.Type != gjson.String {
		return ""
	}
	return r.Str
}
