package bitbucket

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

// GitHub's published vector: Bitbucket signs the same way (HMAC-SHA256 of the raw body,
// "sha256=" and hex), in X-Hub-Signature, and publishes no vector of its own.
const (
	vectorSecret    = "It's a Secret to Everybody"
	vectorBody      = "Hello, World!"
	vectorSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

// bothSources returns the Cloud and the Server source with the same secrets.
func bothSources(secrets ingress.Secrets) []ingress.Source {
	return []ingress.Source{NewCloudSource(CloudConfig{WebhookSecret: secrets}), NewServerSource(ServerConfig{WebhookSecret: secrets})}
}

func TestVerifier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets ingress.Secrets
		h       http.Header
		body    string
		wantErr string
	}{
		{name: "the published vector", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: vectorBody},
		{name: "the old secret of a rotation", secrets: ingress.Secrets{"the-new-secret", vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: vectorBody},
		{name: "the new secret of a rotation", secrets: ingress.Secrets{"the-new-secret", vectorSecret},
			h: providertest.Header(HeaderSignature, "sha256="+providertest.HMACHex("the-new-secret", []byte(vectorBody))), body: vectorBody},
		{name: "tampered body", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, vectorSignature), body: "Hello, World?", wantErr: "X-Hub-Signature does not match the body"},
		{name: "wrong secret", secrets: ingress.Secrets{"not-the-secret"}, h: providertest.Header(HeaderSignature, vectorSignature), body: vectorBody, wantErr: "does not match the body"},
		{name: "missing header", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(), body: vectorBody, wantErr: "no X-Hub-Signature header"},
		{name: "GitHub's header is not Bitbucket's", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header("X-Hub-Signature-256", vectorSignature), body: vectorBody, wantErr: "no X-Hub-Signature header"},
		{name: "SHA-1 is not accepted", secrets: ingress.Secrets{vectorSecret}, h: providertest.Header(HeaderSignature, "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"), body: vectorBody, wantErr: `must start with "sha256="`},
	}
	for _, tt := range tests {
		for _, src := range bothSources(tt.secrets) {
			t.Run(src.Topic+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				require.NotNil(t, src.Verifier)
				err := src.Verifier.Verify(tt.h, []byte(tt.body), time.Now())
				providertest.RequireVerifyResult(t, err, tt.wantErr, tt.secrets...)
			})
		}
	}
}

func TestNoSecretNoVerifier(t *testing.T) {
	t.Parallel()
	for _, src := range bothSources(nil) {
		require.Nil(t, src.Verifier, "%s: a nil Verifier makes the ingress fail closed", src.Topic)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, CloudConfig{WebhookSecret: ingress.Secrets{"s"}}.Validate())
	require.NoError(t, ServerConfig{}.Validate())
	require.ErrorContains(t, CloudConfig{WebhookSecret: ingress.Secrets{""}}.Validate(), "webhookSecret: must not be empty")
	require.ErrorContains(t, ServerConfig{WebhookSecret: ingress.Secrets{"s", ""}}.Validate(), "webhookSecret[1]: must not be empty")
}

func TestInspect(t *testing.T) {
	t.Parallel()
	cloud, server := NewCloudSource(CloudConfig{}), NewServerSource(ServerConfig{})
	tests := []struct {
		name    string
		src     ingress.Source
		payload string
		wantKey string
	}{
		{name: "cloud repository event", src: cloud, payload: `{"repository":{"full_name":"acme/payments","project":{"key":"PLAT"}}}`, wantKey: "acme/payments"},
		{name: "cloud event without a repository", src: cloud, payload: `{"actor":{}}`, wantKey: ""},
		{name: "server repository event", src: server, payload: `{"repository":{"slug":"payments","project":{"key":"PLAT"}}}`, wantKey: "PLAT/payments"},
		{name: "server pull request event", src: server,
			payload: `{"pullRequest":{"fromRef":{"repository":{"slug":"fork","project":{"key":"~ADA"}}},"toRef":{"repository":{"slug":"checkout","project":{"key":"SHOP"}}}}}`, wantKey: "SHOP/checkout"},
		{name: "server repository without a project", src: server, payload: `{"repository":{"slug":"payments"}}`, wantKey: ""},
		{name: "server ping", src: server, payload: `{"test":true}`, wantKey: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := tt.src.Inspect(http.Header{}, []byte(tt.payload))
			require.NoError(t, err)
			require.Equal(t, tt.wantKey, key)
		})
	}
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	h := providertest.Header(HeaderCloudDelivery, "cloud-uuid", HeaderServerDelivery, "server-id")
	require.Equal(t, "cloud-uuid", NewCloudSource(CloudConfig{}).DeliveryID(h))
	require.Equal(t, "server-id", NewServerSource(ServerConfig{}).DeliveryID(h))
	require.Empty(t, NewCloudSource(CloudConfig{}).DeliveryID(providertest.Header(HeaderServerDelivery, "server-id")))
}

// FuzzVerify: a request passes only with the HMAC of its exact body under the secret.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(vectorBody), vectorSignature)
	f.Add([]byte("Hello, World?"), vectorSignature)
	f.Add([]byte(vectorBody), "SHA256="+strings.ToUpper(strings.TrimPrefix(vectorSignature, "sha256=")))
	f.Add([]byte{}, "sha256=")
	f.Add([]byte(`{"test":true}`), "sha1=00")
	srcs := bothSources(ingress.Secrets{vectorSecret})
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		want := providertest.HMACHex(vectorSecret, body)
		valid := len(sig) >= 7 && strings.EqualFold(sig[:7], "sha256=") && strings.EqualFold(strings.TrimSpace(sig[7:]), want)
		for _, src := range srcs {
			err := src.Verifier.Verify(providertest.Header(HeaderSignature, sig), body, time.Now())
			if (err == nil) != valid {
				t.Fatalf("%s: body %q signature %q: err=%v, want valid=%v", src.Topic, body, sig, err, valid)
			}
		}
	})
}

// FuzzInspect: Inspect never fails or panics on valid JSON; a Server key is PROJECT/slug and
// only an object yields a key.
func FuzzInspect(f *testing.F) {
	f.Add([]byte(`{"repository":{"full_name":"acme/payments","slug":"payments","project":{"key":"PLAT"}}}`))
	f.Add([]byte(`{"pullRequest":{"toRef":{"repository":{"slug":"checkout","project":{"key":"SHOP"}}}}}`))
	f.Add([]byte(`{"repository":{"slug":"","project":{"key":"PLAT"}}}`))
	f.Add([]byte(`[]`))
	cloud, server := NewCloudSource(CloudConfig{}), NewServerSource(ServerConfig{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if !json.Valid(payload) {
			return
		}
		for _, src := range []ingress.Source{cloud, server} {
			key, err := src.Inspect(http.Header{}, payload)
			if err != nil {
				t.Fatalf("%s: inspect %q: %v", src.Topic, payload, err)
			}
			if key == "" {
				continue
			}
			if bytes.TrimSpace(payload)[0] != '{' {
				t.Fatalf("%s: key %q from a payload that is not an object: %q", src.Topic, key, payload)
			}
			if project, slug, ok := strings.Cut(key, "/"); src.Topic == TopicServer && (!ok || project == "" || slug == "") {
				t.Fatalf("server key %q is not PROJECT/slug", key)
			}
		}
	})
}
