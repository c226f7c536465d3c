package github

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

// GitHub's published vector ("Validating webhook deliveries").
const (
	vectorSecret    = "It's a Secret to Everybody"
	vectorBody      = "Hello, World!"
	vectorSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
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
		{name: "GitHub's published vector", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: vectorBody},
		{name: "the old secret of a rotation", secrets: ingress.Secrets{"the-new-secret", vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: vectorBody},
		{name: "the new secret of a rotation", secrets: ingress.Secrets{"the-new-secret", vectorSecret},
			h: providertest.Header(HeaderSignature, "sha256="+providertest.HMACHex("the-new-secret", []byte(vectorBody))), body: vectorBody},
		{name: "tampered body", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: "Hello, World?", wantErr: "does not match the body"},
		{name: "wrong secret", secrets: ingress.Secrets{"not-the-secret"}, h: providertest.Header(HeaderSignature, vectorSignature), body: vectorBody, wantErr: "does not match the body"},
		{name: "missing header", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(), body: vectorBody, wantErr: "no X-Hub-Signature-256 header"},
		{name: "legacy SHA-1 header only", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header("X-Hub-Signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"), body: vectorBody, wantErr: "no X-Hub-Signature-256 header"},
		{name: "bare hex without sha256=", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, strings.TrimPrefix(vectorSignature, "sha256=")), body: vectorBody, wantErr: `must start with "sha256="`},
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
	for _, secrets := range []ingress.Secrets{nil, {}} {
		require.Nil(t, NewSource(Config{WebhookSecret: secrets}).Verifier, "a nil Verifier makes the ingress fail closed")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, Config{}.Validate())
	require.NoError(t, Config{WebhookSecret: ingress.Secrets{"s"}}.Validate())
	require.ErrorContains(t, Config{WebhookSecret: ingress.Secrets{""}}.Validate(), "webhookSecret: must not be empty")
	require.ErrorContains(t, Config{WebhookSecret: ingress.Secrets{"s", ""}}.Validate(), "webhookSecret[1]: must not be empty")
}

func TestInspect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		wantKey string
	}{
		{name: "repository event", payload: `{"repository":{"full_name":"acme/api"},"organization":{"login":"acme"}}`, wantKey: "acme/api"},
		{name: "organisation event", payload: `{"action":"member_added","organization":{"login":"acme"}}`, wantKey: "acme"},
		{name: "app event without either", payload: `{"action":"created","installation":{"id":1}}`, wantKey: ""},
		{name: "full_name that is not a string", payload: `{"repository":{"full_name":42},"organization":{"login":"acme"}}`, wantKey: "acme"},
		{name: "not an object", payload: `[1,2]`, wantKey: ""},
	}
	src := NewSource(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := src.Inspect(http.Header{}, []byte(tt.payload))
			require.NoError(t, err)
			require.Equal(t, tt.wantKey, key)
		})
	}
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	src := NewSource(Config{})
	require.Equal(t, "72d3162e-cc78-11e3-81ab-4c9367dc0958", src.DeliveryID(providertest.Header(HeaderDelivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958")))
	require.Empty(t, src.DeliveryID(providertest.Header()))
}

// FuzzVerify: a request passes only with the HMAC of its exact body under the secret.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(vectorBody), vectorSignature)
	f.Add([]byte(vectorBody), "SHA256="+strings.TrimPrefix(vectorSignature, "sha256="))
	f.Add([]byte("Hello, World?"), vectorSignature)
	f.Add([]byte{}, "sha256=")
	f.Add([]byte(`{"zen":"Keep it logically awesome."}`), "sha1=abc")
	v := NewSource(Config{WebhookSecret: ingress.Secrets{"rotated-away", vectorSecret}}).Verifier
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		err := v.Verify(providertest.Header(HeaderSignature, sig), body, time.Now())
		want := providertest.HMACHex(vectorSecret, body)
		old := providertest.HMACHex("rotated-away", body)
		digest, prefixed := cutFold(sig, "sha256=")
		valid := prefixed && (strings.EqualFold(strings.TrimSpace(digest), want) || strings.EqualFold(strings.TrimSpace(digest), old))
		if (err == nil) != valid {
			t.Fatalf("body %q signature %q: err=%v, want valid=%v", body, sig, err, valid)
		}
	})
}

// cutFold is strings.CutPrefix ignoring the case of the prefix.
func cutFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// FuzzInspect: Inspect never fails or panics on a payload the ingress hands it (valid JSON),
// and only an object yields a key.
func FuzzInspect(f *testing.F) {
	f.Add([]byte(`{"repository":{"full_name":"acme/api"}}`))
	f.Add([]byte(`{"organization":{"login":"acme"}}`))
	f.Add([]byte(`{"repository":{"full_name":"a\u0000b"},"repository":{"full_name":1}}`))
	f.Add([]byte(`[{"repository":{"full_name":"acme/api"}}]`))
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
