package gitlab_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitlab"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

const signingToken = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

const moduleConfig = `
events:
  http:
    topics: [gitlab]
  modules:
    gitlab:
      webhookSecret: e2e-secret-token
      signingToken: [whsec_dGhlIG9sZCBzaWduaW5nIHRva2VuIGtleQ==, ` + signingToken + `]
`

// delivery is a GitLab request: the secret token and a Standard Webhooks signature made at
// the given time.
func delivery(id, token, event string, at time.Time, body []byte) http.Header {
	key, err := ingress.StandardWebhooksKey(signingToken)
	if err != nil {
		panic(err)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set(gitlab.HeaderEvent, event)
	h.Set(gitlab.HeaderIdempotencyKey, id)
	h.Set(ingress.HeaderWebhookID, id)
	h.Set(ingress.HeaderWebhookTimestamp, ts)
	h.Set(ingress.HeaderWebhookSignature, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	if token != "" {
		h.Set(gitlab.HeaderToken, token)
	}
	return h
}

// TestModule: through the real modules, a delivery with the secret token and a fresh
// signature is answered 202 and reaches a subscription on gitlab and gitlab.merge_request;
// others are refused and publish nothing.
func TestModule(t *testing.T) {
	t.Parallel()
	app := providertest.Start(t, moduleConfig, gitlab.Module, gitlab.Topic, "gitlab.merge_request")
	body := []byte(`{"object_kind":"merge_request","event_type":"merge_request","project":{"path_with_namespace":"platform/payments"}}`)
	now := time.Now()

	refused := []struct {
		name string
		h    http.Header
		body []byte
		want int
	}{
		{name: "tampered body", h: delivery("d-tampered", "e2e-secret-token", "Merge Request Hook", now, body),
			body: []byte(`{"object_kind":"merge_request","project":{"path_with_namespace":"platform/other"}}`), want: http.StatusUnauthorized},
		{name: "wrong secret token", h: delivery("d-wrong", "guessed-token", "Merge Request Hook", now, body), body: body, want: http.StatusUnauthorized},
		{name: "missing secret token", h: delivery("d-missing", "", "Merge Request Hook", now, body), body: body, want: http.StatusUnauthorized},
		{name: "stale signature timestamp", h: delivery("d-stale", "e2e-secret-token", "Merge Request Hook", now.Add(-10*time.Minute), body), body: body, want: http.StatusUnauthorized},
		{name: "header and payload disagree", h: delivery("d-disagree", "e2e-secret-token", "Push Hook", now, body), body: body, want: http.StatusBadRequest},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			w := app.Post(gitlab.Topic, tt.h, tt.body)
			require.Equal(t, tt.want, w.Code, w.Body.String())
			require.Zero(t, app.Published(), "nothing is published")
		})
	}

	w := app.Post(gitlab.Topic, delivery("d-valid", "e2e-secret-token", "Merge Request Hook", now, body), body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	events := app.Await("d-valid", gitlab.Topic, "gitlab.merge_request")
	for _, e := range events {
		require.Equal(t, "platform/payments", e.Key)
		require.Equal(t, body, e.Payload)
		require.NotContains(t, e.Metadata, "x-gitlab-token")
	}
	require.Equal(t, "payload", events[1].Metadata["event_name_source"])
}

// TestFailClosed: with neither a secret token nor a signing token the application does not
// start, unless the topic is marked insecure.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	err := providertest.StartError(t, "events:\n  http:\n    topics: [gitlab]\n", gitlab.Module)
	require.ErrorContains(t, err, "topic gitlab has no verifier: set events.modules.gitlab.webhookSecret and/or events.modules.gitlab.signingToken, or set events.http.topicOptions.gitlab.insecure: true")

	app := providertest.Start(t, "events:\n  http:\n    topics: [gitlab]\n    topicOptions:\n      gitlab:\n        insecure: true\n", gitlab.Module, gitlab.Topic, "gitlab.push")
	h := http.Header{}
	h.Set(gitlab.HeaderEventUUID, "d-insecure")
	h.Set(gitlab.HeaderEvent, "Push Hook")
	w := app.Post(gitlab.Topic, h, []byte(`{"object_kind":"push","event_name":"push"}`))
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	app.Await("d-insecure", gitlab.Topic, "gitlab.push")
}

// TestSigningTokenOnly: a signing token alone is enough to start.
func TestSigningTokenOnly(t *testing.T) {
	t.Parallel()
	require.NoError(t, providertest.StartError(t, "events:\n  http:\n    topics: [gitlab]\n  modules:\n    gitlab:\n      signingToken: "+signingToken+"\n", gitlab.Module))
}

// TestBadSigningToken: a signing token that is not whsec_ and base64 is a configuration error.
func TestBadSigningToken(t *testing.T) {
	t.Parallel()
	err := providertest.StartError(t, "events:\n  http:\n    topics: [gitlab]\n  modules:\n    gitlab:\n      signingToken: 'not base64!'\n", gitlab.Module)
	require.ErrorContains(t, err, "events.modules.gitlab.signingToken: a Standard Webhooks secret must be whsec_ followed by base64")
	require.NotContains(t, err.Error(), "not base64!", "the value is not repeated")
}
