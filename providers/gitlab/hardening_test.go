package gitlab_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitlab"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

// TestSignaturesStayOffTheBus: neither the secret token nor the signing token's signature
// reaches the metadata of the gitlab event or of its sub-topic event.
func TestSignaturesStayOffTheBus(t *testing.T) {
	t.Parallel()
	const token = "hardening-test-token"
	body := []byte(`{"object_kind":"push","project":{"path_with_namespace":"acme/api"}}`)
	in := providertest.NewIngress(t, gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{token}}))
	h := providertest.Header(gitlab.HeaderEvent, "Push Hook", gitlab.HeaderEventUUID, "sig-1", gitlab.HeaderToken, token,
		ingress.HeaderWebhookID, "msg_1", ingress.HeaderWebhookTimestamp, "1700000000", ingress.HeaderWebhookSignature, "v1,c2lnbmF0dXJl")
	w := in.Post(gitlab.Topic, h, body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	in.Route(t, gitlab.NewRouter(in.Bus))
	events := in.Bus.Published()
	require.Len(t, events, 2)
	for _, e := range events {
		require.NotContains(t, e.Metadata, "x-gitlab-token", e.Topic)
		require.NotContains(t, e.Metadata, "webhook-signature", e.Topic)
		require.Equal(t, "sig-1", e.Metadata["x-gitlab-event-uuid"])
	}
}

// TestRouterRoutesOnlyDocumentedEvents: object_kind or event_name values GitLab does not
// document get no sub-topic; documented ones and those configured in subTopics do.
func TestRouterRoutesOnlyDocumentedEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payload, wantTopic string
		subTopics          []string
	}{
		{payload: `{"object_kind":"merge_request"}`, wantTopic: "gitlab.merge_request"},
		{payload: `{"event_name":"user_add_to_group"}`, wantTopic: "gitlab.user_add_to_group"},
		{payload: `{"object_kind":"evil000"}`},
		{payload: `{"event_name":"evil001"}`},
		{payload: `{"object_kind":"brand_new"}`, subTopics: []string{"brand_new"}, wantTopic: "gitlab.brand_new"},
	}
	for _, tt := range tests {
		e := eventsvc.Event{ID: "d-1", Topic: gitlab.Topic, Payload: []byte(tt.payload)}
		providertest.RequireRoute(t, func(bus eventsvc.Publisher) eventsvc.Subscription { return gitlab.NewRouter(bus, tt.subTopics...) }, e, tt.wantTopic)
	}
}

// TestEventsMakeValidTopics: every documented event name makes a valid topic, once.
func TestEventsMakeValidTopics(t *testing.T) {
	t.Parallel()
	providertest.RequireValidEventTopics(t, gitlab.Topic, gitlab.Events)
}
