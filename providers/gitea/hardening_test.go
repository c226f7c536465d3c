package gitea_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitea"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

// TestSignaturesStayOffTheBus: none of the Gitea, Forgejo and Gogs signature headers reaches
// the metadata of the gitea event or of its sub-topic event.
func TestSignaturesStayOffTheBus(t *testing.T) {
	t.Parallel()
	const secret = "hardening-test-secret"
	body := []byte(`{"repository":{"full_name":"acme/api"}}`)
	sig := providertest.HMACHex(secret, body)
	in := providertest.NewIngress(t, gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{secret}}))
	h := providertest.Header(gitea.HeaderEvent, "push", gitea.HeaderDelivery, "sig-1",
		"X-Gitea-Signature", sig, "X-Forgejo-Signature", sig, "X-Gogs-Signature", sig)
	w := in.Post(gitea.Topic, h, body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	in.Route(t, gitea.NewRouter(in.Bus))
	events := in.Bus.Published()
	require.Len(t, events, 2)
	for _, e := range events {
		for _, k := range []string{"x-gitea-signature", "x-forgejo-signature", "x-gogs-signature"} {
			require.NotContains(t, e.Metadata, k, e.Topic)
		}
		require.Equal(t, "sig-1", e.Metadata["x-gitea-delivery"])
	}
}

// TestRouterRoutesOnlyDocumentedEvents: invented X-Gitea-Event values get no sub-topic;
// documented ones and those configured in subTopics do.
func TestRouterRoutesOnlyDocumentedEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event, wantTopic string
		subTopics        []string
	}{
		{event: "pull_request_approved", wantTopic: "gitea.pull_request_approved"},
		{event: "evil000"},
		{event: "brand_new", subTopics: []string{"brand_new"}, wantTopic: "gitea.brand_new"},
	}
	for _, tt := range tests {
		e := eventsvc.Event{ID: "d-1", Topic: gitea.Topic, Payload: []byte(`{}`), Metadata: map[string]string{"x-forgejo-event": tt.event}}
		providertest.RequireRoute(t, func(bus eventsvc.Publisher) eventsvc.Subscription { return gitea.NewRouter(bus, tt.subTopics...) }, e, tt.wantTopic)
	}
}

// TestEventsMakeValidTopics: every documented event name makes a valid topic, once.
func TestEventsMakeValidTopics(t *testing.T) {
	t.Parallel()
	providertest.RequireValidEventTopics(t, gitea.Topic, gitea.Events)
}
