package gitea

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

// GitHub's published vector, written as Gitea writes signatures (bare hex, no prefix); Gitea
// and Forgejo publish no vector of their own.
const (
	vectorSecret    = "It's a Secret to Everybody"
	vectorBody      = "Hello, World!"
	vectorSignature = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestVerifier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets ingress.Secrets
		h       http.Header
		body    string
		wantErr string
	}{
		{name: "Gitea", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: vectorBody},
		{name: "Forgejo", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderForgejoSignature, vectorSignature), body: vectorBody},
		{name: "the old secret of a rotation", secrets: ingress.Secrets{"the-new-secret", vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: vectorBody},
		{name: "the new secret of a rotation", secrets: ingress.Secrets{"the-new-secret", vectorSecret},
			h: providertest.Header(HeaderSignature, providertest.HMACHex("the-new-secret", []byte(vectorBody))), body: vectorBody},
		{name: "Gitea's header is checked when both are present", secrets: ingress.Secrets{vectorSecret},
			h: providertest.Header(HeaderSignature, strings.Repeat("00", 32), HeaderForgejoSignature, vectorSignature), body: vectorBody, wantErr: "X-Gitea-Signature does not match the body"},
		{name: "tampered body", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: "Hello, World?", wantErr: "does not match the body"},
		{name: "wrong secret", secrets: ingress.Secrets{"not-the-secret"}, h: providertest.Header(HeaderForgejoSignature, vectorSignature), body: vectorBody, wantErr: "X-Forgejo-Signature does not match the body"},
		{name: "missing header", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header("X-Hub-Signature-256", "sha256="+vectorSignature), body: vectorBody, wantErr: "no X-Gitea-Signature or X-Forgejo-Signature header"},
		{name: "a prefix is not Gitea's format", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, "sha256="+vectorSignature), body: vectorBody, wantErr: "is not a hex SHA-256 digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := NewSource(Config{WebhookSecret: tt.secrets}).Verifier
			require.NotNil(t, v)
			err := v.Verify(tt.h, []byte(tt.body), time.Now())
			providertest.RequireVerifyResult(t, err, tt.wantErr, tt.secrets...)
		})
	}
}

func TestNoSecretNoVerifier(t *testing.T) {
	t.Parallel()
	require.Nil(t, NewSource(Config{}).Verifier, "a nil Verifier makes the ingress fail closed")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, Config{WebhookSecret: ingress.Secrets{"s"}}.Validate())
	require.ErrorContains(t, Config{WebhookSecret: ingress.Secrets{""}}.Validate(), "webhookSecret: must not be empty")
}

func TestInspect(t *testing.T) {
	t.Parallel()
	src := NewSource(Config{})
	for payload, want := range map[string]string{
		`{"repository":{"full_name":"platform/payments"}}`:            "platform/payments",
		`{"action":"created","organization":{"username":"platform"}}`: "",
		`{"repository":{"full_name":null}}`:                           "",
	} {
		key, err := src.Inspect(http.Header{}, []byte(payload))
		require.NoError(t, err)
		require.Equal(t, want, key, payload)
	}
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	src := NewSource(Config{})
	require.Equal(t, "gitea-id", src.DeliveryID(providertest.Header(HeaderDelivery, "gitea-id", HeaderForgejoDelivery, "forgejo-id")))
	require.Equal(t, "forgejo-id", src.DeliveryID(providertest.Header(HeaderForgejoDelivery, "forgejo-id")))
	require.Empty(t, src.DeliveryID(providertest.Header("X-GitHub-Delivery", "github-id")))
}

// FuzzVerify: a request passes only with the hex HMAC of its exact body under the secret, in
// X-Gitea-Signature, or in X-Forgejo-Signature when there is no X-Gitea-Signature.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(vectorBody), vectorSignature, "")
	f.Add([]byte(vectorBody), "", vectorSignature)
	f.Add([]byte(vectorBody), "00", vectorSignature)
	f.Add([]byte("Hello, World?"), vectorSignature, "")
	f.Add([]byte{}, "sha256="+vectorSignature, "")
	v := NewSource(Config{WebhookSecret: ingress.Secrets{vectorSecret}}).Verifier
	f.Fuzz(func(t *testing.T, body []byte, gitea, forgejo string) {
		err := v.Verify(providertest.Header(HeaderSignature, gitea, HeaderForgejoSignature, forgejo), body, time.Now())
		checked := gitea
		if checked == "" {
			checked = forgejo
		}
		valid := strings.EqualFold(strings.TrimSpace(checked), providertest.HMACHex(vectorSecret, body))
		if (err == nil) != valid {
			t.Fatalf("body %q gitea %q forgejo %q: err=%v, want valid=%v", body, gitea, forgejo, err, valid)
		}
	})
}

// FuzzInspect: Inspect never fails or panics on valid JSON, and only an object yields a key.
func FuzzInspect(f *testing.F) {
	f.Add([]byte(`{"repository":{"full_name":"platform/payments"}}`))
	f.Add([]byte(`{"repository":{"full_name":"a\u00e9\\"}}`))
	f.Add([]byte(`"platform/payments"`))
	src := NewSource(Config{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if !json.Valid(payload) {
			return
		}
		key, err := src.Inspect(http.Header{}, payload)
		if err != nil {
			t.Fatalf("inspect %q: %v", payload, err)
		}
		if key != "" && bytes.TrimSpace(payload)[0] != '{' {
			t.Fatalf("key %q from a payload that is not an object: %q", key, payload)
		}
	})
}
