package gitea_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/providers/gitea"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

const moduleConfig = `
events:
  http:
    topics: [gitea]
  modules:
    gitea:
      webhookSecret: [rotated-away-secret-1, e2e-secret-of-16+chars]
`

func pushHeaders(delivery, signatureHeader, signature string) http.Header {
	h := http.Header{}
	h.Set(gitea.HeaderDelivery, delivery)
	h.Set(gitea.HeaderEvent, "push")
	if signature != "" {
		h.Set(signatureHeader, signature)
	}
	return h
}

// TestModule: through the real modules, a signed delivery is answered 202 and reaches a
// subscription on gitea and gitea.push; unsigned or mis-signed ones are answered 401 and
// publish nothing.
func TestModule(t *testing.T) {
	t.Parallel()
	app := providertest.Start(t, moduleConfig, gitea.Module, gitea.Topic, "gitea.push")
	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"platform/payments"}}`)
	valid := providertest.HMACHex("e2e-secret-of-16+chars", body)

	refused := []struct {
		name string
		h    http.Header
		body []byte
	}{
		{name: "tampered body", h: pushHeaders("g-tampered", gitea.HeaderSignature, valid), body: []byte(`{"ref":"refs/heads/evil"}`)},
		{name: "wrong secret", h: pushHeaders("g-wrong", gitea.HeaderForgejoSignature, providertest.HMACHex("guessed", body)), body: body},
		{name: "missing signature", h: pushHeaders("g-missing", "", ""), body: body},
		{name: "GitHub's signature header only", h: pushHeaders("g-github", "X-Hub-Signature-256", "sha256="+valid), body: body},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			w := app.Post(gitea.Topic, tt.h, tt.body)
			require.Equal(t, http.StatusUnauthorized, w.Code, w.Body.String())
			require.Zero(t, app.Published(), "nothing is published")
		})
	}

	w := app.Post(gitea.Topic, pushHeaders("g-valid", gitea.HeaderSignature, valid), body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	for _, e := range app.Await("g-valid", gitea.Topic, "gitea.push") {
		require.Equal(t, "platform/payments", e.Key)
		require.Equal(t, body, e.Payload)
	}
}

// TestFailClosed: without a secret the application does not start, unless the topic is
// marked insecure.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	err := providertest.StartError(t, "events:\n  http:\n    topics: [gitea]\n", gitea.Module)
	require.ErrorContains(t, err, "topic gitea has no verifier: set events.modules.gitea.webhookSecret, or set events.http.topicOptions.gitea.insecure: true")

	app := providertest.Start(t, "events:\n  http:\n    topics: [gitea]\n    topicOptions:\n      gitea:\n        insecure: true\n", gitea.Module, gitea.Topic, "gitea.push")
	w := app.Post(gitea.Topic, pushHeaders("g-insecure", "", ""), []byte(`{}`))
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	app.Await("g-insecure", gitea.Topic, "gitea.push")
}
