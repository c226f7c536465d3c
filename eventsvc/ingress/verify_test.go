package ingress

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
)

// Published test vectors.
const (
	githubSecret    = "It's a Secret to Everybody"
	githubBody      = "Hello, World!"
	githubSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swTimestamp = "1614265330"
	swBody      = `{"test": 2432232314}`
	swSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func secrets(s ...string) []config.Secret {
	out := make([]config.Secret, len(s))
	for i, v := range s {
		out[i] = config.Secret(v)
	}
	return out
}

func TestHMACVerifier(t *testing.T) {
	t.Parallel()
	gh := HMACVerifier{Headers: []string{"X-Hub-Signature-256"}, Prefix: "sha256=", Encoding: Hex, Secrets: secrets("old-secret", githubSecret)}
	b64 := HMACVerifier{Headers: []string{"X-Sig"}, Encoding: Base64, Secrets: secrets(githubSecret)}
	raw, _ := hex.DecodeString(githubSignature[len("sha256="):])
	tests := []struct {
		name    string
		v       HMACVerifier
		h       http.Header
		body    string
		wantErr string
	}{
		{name: "GitHub's published vector, second secret of a rotation", v: gh, h: header("X-Hub-Signature-256", githubSignature), body: githubBody},
		{name: "upper-case algorithm prefix", v: gh, h: header("X-Hub-Signature-256", "SHA256="+githubSignature[7:]), body: githubBody},
		{name: "base64 encoding", v: b64, h: header("X-Sig", base64.StdEncoding.EncodeToString(raw)), body: githubBody},
		{name: "tampered body", v: gh, h: header("X-Hub-Signature-256", githubSignature), body: "Hello, World?", wantErr: "X-Hub-Signature-256 does not match the body"},
		{name: "wrong secret", v: HMACVerifier{Headers: gh.Headers, Prefix: gh.Prefix, Encoding: Hex, Secrets: secrets("nope")}, h: header("X-Hub-Signature-256", githubSignature), body: githubBody, wantErr: "does not match"},
		{name: "missing header", v: gh, h: header(), body: githubBody, wantErr: "no X-Hub-Signature-256 header"},
		{name: "missing prefix", v: gh, h: header("X-Hub-Signature-256", githubSignature[7:]), body: githubBody, wantErr: `must start with "sha256="`},
		{name: "not hex", v: gh, h: header("X-Hub-Signature-256", "sha256=zz"), body: githubBody, wantErr: "is not a hex SHA-256 digest"},
		{name: "truncated digest", v: gh, h: header("X-Hub-Signature-256", githubSignature[:40]), body: githubBody, wantErr: "is not a hex SHA-256 digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.v.Verify(tt.h, []byte(tt.body), time.Now())
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrBadSignature)
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), githubSecret)
		})
	}
}

func TestStandardWebhooksVerifier(t *testing.T) {
	t.Parallel()
	v := StandardWebhooksVerifier{Secrets: secrets("whsec_dGhlIG9sZCBrZXkgdGhhdCB3YXMgcm90YXRlZA==", swSecret)}
	at := time.Unix(1614265330, 0)
	good := header(HeaderWebhookID, swID, HeaderWebhookTimestamp, swTimestamp, HeaderWebhookSignature, swSignature)
	tests := []struct {
		name    string
		h       http.Header
		body    string
		now     time.Time
		wantErr string
	}{
		{name: "the library's published vector", h: good, body: swBody, now: at},
		{name: "one of several signatures", h: header(HeaderWebhookID, swID, HeaderWebhookTimestamp, swTimestamp, HeaderWebhookSignature, "v1,bm90IGl0 v1a,ZWQyNTUxOQ== "+swSignature), body: swBody, now: at},
		{name: "within the tolerance", h: good, body: swBody, now: at.Add(4 * time.Minute)},
		{name: "stale timestamp", h: good, body: swBody, now: at.Add(6 * time.Minute), wantErr: "more than 5 minutes"},
		{name: "timestamp in the future", h: good, body: swBody, now: at.Add(-6 * time.Minute), wantErr: "more than 5 minutes"},
		{name: "tampered body", h: good, body: `{"test": 2432232315}`, now: at, wantErr: "no webhook-signature matches"},
		{name: "other id", h: header(HeaderWebhookID, "msg_other", HeaderWebhookTimestamp, swTimestamp, HeaderWebhookSignature, swSignature), body: swBody, now: at, wantErr: "no webhook-signature matches"},
		{name: "missing headers", h: header(HeaderWebhookID, swID), body: swBody, now: at, wantErr: "are required"},
		{name: "no v1 signature", h: header(HeaderWebhookID, swID, HeaderWebhookTimestamp, swTimestamp, HeaderWebhookSignature, "v2,abc"), body: swBody, now: at, wantErr: "no v1 signature"},
		{name: "timestamp not a number", h: header(HeaderWebhookID, swID, HeaderWebhookTimestamp, "yesterday", HeaderWebhookSignature, swSignature), body: swBody, now: at, wantErr: "not a Unix time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := v.Verify(tt.h, []byte(tt.body), tt.now)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrBadSignature)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestTokenVerifier(t *testing.T) {
	t.Parallel()
	v := TokenVerifier{Header: "X-Gitlab-Token", Tokens: secrets("first", "second-token")}
	require.NoError(t, v.Verify(header("X-Gitlab-Token", "second-token"), nil, time.Now()))
	for _, bad := range []string{"", "second-toke", "second-token2", "SECOND-TOKEN"} {
		err := v.Verify(header("X-Gitlab-Token", bad), nil, time.Now())
		require.ErrorIs(t, err, ErrBadSignature, bad)
		require.NotContains(t, err.Error(), "second-token")
	}
}

func TestAllOf(t *testing.T) {
	t.Parallel()
	v := AllOf{TokenVerifier{Header: "X-Gitlab-Token", Tokens: secrets("tok")}, StandardWebhooksVerifier{Secrets: secrets(swSecret)}}
	at := time.Unix(1614265330, 0)
	h := header("X-Gitlab-Token", "tok", HeaderWebhookID, swID, HeaderWebhookTimestamp, swTimestamp, HeaderWebhookSignature, swSignature)
	require.NoError(t, v.Verify(h, []byte(swBody), at))
	h.Set("X-Gitlab-Token", "nope")
	require.ErrorIs(t, v.Verify(h, []byte(swBody), at), ErrBadSignature)
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func FuzzHMACVerifier(f *testing.F) {
	f.Add([]byte(githubBody), githubSignature)
	f.Add([]byte("{}"), "sha256=")
	f.Add([]byte{}, "SHA256=00")
	f.Add([]byte(githubBody), " SHA256="+strings.ToUpper(githubSignature[7:])+"\t")
	f.Add([]byte(githubBody), "0000000"+githubSignature[7:])
	v := HMACVerifier{Headers: []string{"X-Hub-Signature-256"}, Prefix: "sha256=", Encoding: Hex, Secrets: secrets(githubSecret)}
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		err := v.Verify(header("X-Hub-Signature-256", sig), body, time.Now())
		// The oracle is the contract: exactly "sha256=" in any case, then the hex HMAC of the
		// body in any case, with surrounding whitespace ignored. Nothing else is accepted.
		want := strings.TrimPrefix(sign(githubSecret, body), "sha256=")
		valid := len(sig) >= len("sha256=") && strings.EqualFold(sig[:len("sha256=")], "sha256=") &&
			strings.EqualFold(strings.TrimSpace(sig[len("sha256="):]), want)
		if (err == nil) != valid {
			t.Fatalf("body %q signature %q: valid=%v err=%v", body, sig, valid, err)
		}
	})
}

func FuzzStandardWebhooksVerifier(f *testing.F) {
	f.Add(swID, swTimestamp, swSignature, []byte(swBody))
	f.Add("", "0", "v1,", []byte{})
	f.Add("x", "1614265330", "v1a,abc v1,====", []byte("{}"))
	v := StandardWebhooksVerifier{Secrets: secrets(swSecret)}
	at := time.Unix(1614265330, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		err := v.Verify(header(HeaderWebhookID, id, HeaderWebhookTimestamp, ts, HeaderWebhookSignature, sig), body, at)
		if err == nil && (id != swID || ts != swTimestamp || string(body) != swBody) {
			t.Fatalf("accepted a forged request: id %q ts %q body %q", id, ts, body)
		}
	})
}

func FuzzTokenVerifier(f *testing.F) {
	f.Add("tok")
	f.Add("")
	v := TokenVerifier{Header: "X-Gitlab-Token", Tokens: secrets("tok")}
	f.Fuzz(func(t *testing.T, got string) {
		err := v.Verify(header("X-Gitlab-Token", got), nil, time.Now())
		// Header values are trimmed by net/http semantics only on the wire; compare exactly.
		if (err == nil) != (got == "tok") {
			t.Fatalf("token %q: err=%v", got, err)
		}
	})
}

func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"a":1}`), false)
	f.Add([]byte(`payload=%7B%22a%22%3A1%7D`), true)
	f.Add([]byte(`payload=`), true)
	f.Add([]byte{0xff}, false)
	f.Fuzz(func(t *testing.T, body []byte, form bool) {
		out, err := decodeBody(body, form)
		if err != nil {
			return
		}
		if !form && string(out) != string(body) {
			t.Fatal("a JSON body must be kept byte for byte")
		}
	})
}
