package gitlab_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

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
	events := in.Accept(t, gitlab.Topic, h, body)
	providertest.RequireSubTopic(t, events, gitlab.Topic, "gitlab.push", ingress.FromPayload)
	for _, e := range events {
		require.NotContains(t, e.Metadata, "x-gitlab-token", e.Topic)
		require.NotContains(t, e.Metadata, "webhook-signature", e.Topic)
		require.Equal(t, "sig-1", e.Metadata["x-gitlab-event-uuid"])
	}
}

// TestOnlyDocumentedEventsGetSubTopics: object_kind or event_name values GitLab does not
// document get no sub-topic (the gitlab event is marked event_name_unknown); documented ones
// and those configured in subTopics do.
func TestOnlyDocumentedEventsGetSubTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payload, wantTopic string
		subTopics          []string
	}{
		{payload: `{"object_kind":"merge_request"}`, wantTopic: "gitlab.merge_request"},
		{payload: `{"event_name":"user_add_to_group"}`, wantTopic: "gitlab.user_add_to_group"},
		{payload: `{"object_kind":"evil000"}`},
		{payload: `{"event_name":"evil001"}`},
		{payload: `{"object_kind":"brand_new"}`},
		{payload: `{"object_kind":"brand_new"}`, subTopics: []string{"brand_new"}, wantTopic: "gitlab.brand_new"},
	}
	const token = "hardening-test-token"
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s with subTopics %v", tt.payload, tt.subTopics), func(t *testing.T) {
			t.Parallel()
			in := providertest.NewIngressWithSubTopics(t, map[string][]string{gitlab.Topic: tt.subTopics},
				gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{token}}))
			events := in.Accept(t, gitlab.Topic, providertest.Header(gitlab.HeaderToken, token, gitlab.HeaderEventUUID, "d-1"), []byte(tt.payload))
			if tt.wantTopic == "" {
				providertest.RequireNoSubTopic(t, events, gitlab.Topic, true)
				return
			}
			providertest.RequireSubTopic(t, events, gitlab.Topic, tt.wantTopic, ingress.FromPayload)
		})
	}
}

// TestEventsMakeValidTopics: every documented event name makes a valid topic, once.
func TestEventsMakeValidTopics(t *testing.T) {
	t.Parallel()
	providertest.RequireValidEventTopics(t, gitlab.Topic, gitlab.Events)
}
