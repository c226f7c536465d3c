package ingress

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stagebus/stagebus/config"
)

// Encoding says how a signature is written.
type Encoding string

// The signature encodings.
const (
	Hex    Encoding = "hex"
	Base64 Encoding = "base64"
)

// HMACVerifier checks an HMAC-SHA256 of the raw body, written in one header as
// Prefix + hex (or base64) digest: GitHub's X-Hub-Signature-256 ("sha256="), Bitbucket's
// X-Hub-Signature ("sha256="), Gitea's X-Gitea-Signature (bare hex). Any of the secrets may
// match, so that secrets can be rotated.
type HMACVerifier struct {
	// Headers are tried in order; the first present is checked.
	Headers  []string
	Prefix   string
	Encoding Encoding
	Secrets  []config.Secret
}

var _ Verifier = HMACVerifier{}

// Verify implements Verifier.
func (v HMACVerifier) Verify(h http.Header, body []byte, _ time.Time) error {
	var name, got string
	for _, n := range v.Headers {
		if got = h.Get(n); got != "" {
			name = n
			break
		}
	}
	if got == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, strings.Join(v.Headers, " or "))
	}
	enc, ok := strings.CutPrefix(got, v.Prefix)
	if !ok && v.Prefix != "" {
		// Some senders write the algorithm in upper case.
		if len(got) >= len(v.Prefix) && strings.EqualFold(got[:len(v.Prefix)], v.Prefix) {
			enc, ok = got[len(v.Prefix):], true
		}
	}
	if !ok {
		return fmt.Errorf("%w: %s must start with %q", ErrBadSignature, name, v.Prefix)
	}
	sig, err := decode(v.Encoding, strings.TrimSpace(enc))
	if err != nil || len(sig) != sha256.Size {
		return fmt.Errorf("%w: %s is not a %s SHA-256 digest", ErrBadSignature, name, v.Encoding)
	}
	for _, s := range v.Secrets {
		mac := hmac.New(sha256.New, []byte(s.Value()))
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), sig) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not match the body", ErrBadSignature, name)
}

func decode(e Encoding, s string) ([]byte, error) {
	if e == Base64 {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b, nil
		}
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	return hex.DecodeString(s)
}

// TokenVerifier compares a shared token sent in a header, in constant time (GitLab's
// X-Gitlab-Token). Any of the tokens may match.
type TokenVerifier struct {
	Header string
	Tokens []config.Secret
}

var _ Verifier = TokenVerifier{}

// Verify implements Verifier.
func (v TokenVerifier) Verify(h http.Header, _ []byte, _ time.Time) error {
	got := h.Get(v.Header)
	if got == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, v.Header)
	}
	// Compare digests, so that neither the length nor the content leaks through timing.
	gotSum := sha256.Sum256([]byte(got))
	match := 0
	for _, t := range v.Tokens {
		want := sha256.Sum256([]byte(t.Value()))
		match |= boolInt(hmac.Equal(gotSum[:], want[:]))
	}
	if match == 1 {
		return nil
	}
	return fmt.Errorf("%w: %s does not match", ErrBadSignature, v.Header)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// StandardWebhooksTolerance is how far webhook-timestamp may be from now, as in the Standard
// Webhooks reference libraries.
const StandardWebhooksTolerance = 5 * time.Minute

// StandardWebhooksVerifier checks Standard Webhooks v1 signatures (also Svix, and GitLab's
// signing token): webhook-id, webhook-timestamp within ±5 minutes, and webhook-signature, a
// space-separated list of "v1,<base64 HMAC-SHA256 of id.timestamp.body>" of which one must
// match. Secrets are "whsec_<base64 key>" (or the bare base64 key).
type StandardWebhooksVerifier struct {
	Secrets []config.Secret
}

var _ Verifier = StandardWebhooksVerifier{}

// Standard Webhooks headers.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// StandardWebhooksKey decodes a "whsec_…" secret into its key.
func StandardWebhooksKey(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(k) == 0 {
		return nil, fmt.Errorf("a Standard Webhooks secret must be whsec_ followed by base64")
	}
	return k, nil
}

// Verify implements Verifier.
func (v StandardWebhooksVerifier) Verify(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: webhook-id, webhook-timestamp and webhook-signature are required", ErrBadSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not a Unix time", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > StandardWebhooksTolerance || d < -StandardWebhooksTolerance {
		return fmt.Errorf("%w: webhook-timestamp is more than 5 minutes from now", ErrBadSignature)
	}
	var candidates [][]byte
	for _, s := range strings.Fields(sigs) {
		ver, b64, ok := strings.Cut(s, ",")
		if !ok || ver != "v1" {
			continue // other schemes (v1a: ed25519) are not configured
		}
		if sig, err := base64.StdEncoding.DecodeString(b64); err == nil {
			candidates = append(candidates, sig)
		}
	}
	if len(candidates) == 0 {
		return fmt.Errorf("%w: webhook-signature has no v1 signature", ErrBadSignature)
	}
	for _, secret := range v.Secrets {
		key, err := StandardWebhooksKey(secret.Value())
		if err != nil {
			continue
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		want := mac.Sum(nil)
		for _, c := range candidates {
			if hmac.Equal(c, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no webhook-signature matches", ErrBadSignature)
}

// AllOf passes when every verifier passes (GitLab with both a secret token and a signing
// token).
type AllOf []Verifier

// Verify implements Verifier.
func (a AllOf) Verify(h http.Header, body []byte, now time.Time) error {
	for _, v := range a {
		if err := v.Verify(h, body, now); err != nil {
			return err
		}
	}
	return nil
}

// Secrets is a secret or a list of secrets in configuration (webhookSecret: "s" or ["s1",
// "s2"] while rotating).
type Secrets = config.OneOrMany[config.Secret]
