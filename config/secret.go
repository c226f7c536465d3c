package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces secret values wherever configuration is printed or logged.
const Redacted = "[redacted]"

// Secret is a configuration string that must never be printed or logged: formatting it, or
// marshalling it to JSON or text, yields [Redacted]. Use [Secret.Value] where the real value is
// needed.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String returns [Redacted] (or "" for an empty secret).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString returns the redacted form for %#v as well.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// MarshalText returns the redacted form, so JSON encoders and loggers never see the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// RedactURL returns the URL with any password replaced by [Redacted], and any query parameter
// whose name suggests a secret redacted too. A string that is not a URL is redacted whole.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return Redacted
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	q := u.Query()
	for k := range q {
		if secretKey.MatchString(k) {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return strings.ReplaceAll(u.String(), "REDACTED", Redacted)
}

// secretKey matches key names that suggest a secret value, for keys no module describes.
var secretKey = regexp.MustCompile(`(?i)(secret|passw(or)?d|token|api_?key|private_?key|credential|signing|auth_?key|connection|dsn)`)
