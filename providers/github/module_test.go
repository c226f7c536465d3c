package github_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/providers/github"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

const moduleConfig = `
events:
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: [rotated-away-secret-1, e2e-secret-of-16+chars]
`

func pushHeaders(delivery, signature string) http.Header {
	h := http.Header{}
	h.Set(github.HeaderDelivery, delivery)
	h.Set(github.HeaderEvent, "push")
	if signature != "" {
		h.Set(github.HeaderSignature, signature)
	}
	return h
}

// TestModule: through the real modules, a signed delivery is answered 202 and reaches a
// subscription on github and on github.push; unsigned or mis-signed ones are answered 401 and
// publish nothing.
func TestModule(t *testing.T) {
	t.Parallel()
	app := providertest.Start(t, moduleConfig, github.Module, github.Topic, "github.push")
	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"acme/api"}}`)
	valid := "sha256=" + providertest.HMACHex("e2e-secret-of-16+chars", body)

	refused := []struct {
		name string
		h    http.Header
		body []byte
	}{
		{name: "tampered body", h: pushHeaders("d-tampered", valid), body: []byte(`{"ref":"refs/heads/evil","repository":{"full_name":"acme/api"}}`)},
		{name: "wrong secret", h: pushHeaders("d-wrong", "sha256="+providertest.HMACHex("guessed", body)), body: body},
		{name: "missing signature", h: pushHeaders("d-missing", ""), body: body},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			w := app.Post(github.Topic, tt.h, tt.body)
			require.Equal(t, http.StatusUnauthorized, w.Code, w.Body.String())
			require.Zero(t, app.Published(), "nothing is published")
		})
	}

	w := app.Post(github.Topic, pushHeaders("d-valid", valid), body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	require.JSONEq(t, `{"status":"accepted"}`, w.Body.String())
	events := app.Await("d-valid", github.Topic, "github.push")
	for _, e := range events {
		require.Equal(t, "acme/api", e.Key)
		require.Equal(t, body, e.Payload)
	}
	require.Equal(t, "unsigned-header", events[1].Metadata["event_name_source"])

	w = app.Post(github.Topic, pushHeaders("d-valid", valid), body)
	require.Equal(t, http.StatusOK, w.Code, "a redelivery is a duplicate: %s", w.Body.String())
}

// TestFailClosed: without a secret the application does not start, unless the topic is
// marked insecure.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	err := providertest.StartError(t, "events:\n  http:\n    topics: [github]\n", github.Module)
	require.ErrorContains(t, err, "topic github has no verifier: set events.modules.github.webhookSecret, or set events.http.topicOptions.github.insecure: true")

	app := providertest.Start(t, "events:\n  http:\n    topics: [github]\n    topicOptions:\n      github:\n        insecure: true\n", github.Module, github.Topic, "github.push")
	w := app.Post(github.Topic, pushHeaders("d-insecure", ""), []byte(`{}`))
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	app.Await("d-insecure", github.Topic, "github.push")
}

// TestEmptySecretIsRefused: an empty secret (say, from an unset ${VAR:-}) is a configuration
// error, not an HMAC key anybody can sign with.
func TestEmptySecretIsRefused(t *testing.T) {
	t.Parallel()
	err := providertest.StartError(t, "events:\n  http:\n    topics: [github]\n  modules:\n    github:\n      webhookSecret: ''\n", github.Module)
	require.ErrorContains(t, err, "events.modules.github.webhookSecret: must not be empty")
}

// TestSubTopicsOption: through the real modules, events.http.topicOptions.github.subTopics
// gives an event name GitHub's list lacks a sub-topic, which the ingress publishes with the
// github event.
func TestSubTopicsOption(t *testing.T) {
	t.Parallel()
	app := providertest.Start(t, `
events:
  http:
    topics: [github]
    topicOptions:
      github:
        subTopics: [brand_new_event]
  modules:
    github:
      webhookSecret: e2e-secret-of-16+chars
`, github.Module, github.Topic, "github.brand_new_event")
	body := []byte(`{"repository":{"full_name":"acme/api"}}`)
	h := pushHeaders("d-new", "sha256="+providertest.HMACHex("e2e-secret-of-16+chars", body))
	h.Set(github.HeaderEvent, "brand_new_event")
	w := app.Post(github.Topic, h, body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	events := app.Await("d-new", github.Topic, "github.brand_new_event")
	require.Equal(t, "unsigned-header", events[1].Metadata["event_name_source"])
	require.Equal(t, float64(2), app.Published(), "the github event and its sub-topic event")
}
