package github_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/github"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

// TestSignaturesStayOffTheBus: neither of GitHub's signature headers reaches the metadata
// of the github event or of its sub-topic event.
func TestSignaturesStayOffTheBus(t *testing.T) {
	t.Parallel()
	const secret = "hardening-test-secret"
	body := []byte(`{"repository":{"full_name":"acme/api"}}`)
	in := providertest.NewIngress(t, github.NewSource(github.Config{WebhookSecret: ingress.Secrets{secret}}))
	h := providertest.Header(github.HeaderEvent, "push", github.HeaderDelivery, "sig-1",
		"X-Hub-Signature-256", "sha256="+providertest.HMACHex(secret, body), "X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")
	w := in.Post(github.Topic, h, body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	in.Route(t, github.NewRouter(in.Bus))
	events := in.Bus.Published()
	require.Len(t, events, 2)
	for _, e := range events {
		require.NotContains(t, e.Metadata, "x-hub-signature-256", e.Topic)
		require.NotContains(t, e.Metadata, "x-hub-signature", e.Topic)
		require.Equal(t, "sig-1", e.Metadata["x-github-delivery"])
	}
}

// TestRouterRoutesOnlyDocumentedEvents: invented X-GitHub-Event values get no sub-topic;
// documented ones and those configured in subTopics do.
func TestRouterRoutesOnlyDocumentedEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event, wantTopic string
		subTopics        []string
	}{
		{event: "push", wantTopic: "github.push"},
		{event: "workflow_run", wantTopic: "github.workflow_run"},
		{event: "evil000"},
		{event: "Push"},
		{event: "brand_new_event"},
		{event: "brand_new_event", subTopics: []string{"brand_new_event"}, wantTopic: "github.brand_new_event"},
	}
	for _, tt := range tests {
		e := eventsvc.Event{ID: "d-1", Topic: github.Topic, Payload: []byte(`{}`), Metadata: map[string]string{"x-github-event": tt.event}}
		providertest.RequireRoute(t, func(bus eventsvc.Publisher) eventsvc.Subscription { return github.NewRouter(bus, tt.subTopics...) }, e, tt.wantTopic)
	}
}

// TestEventsMakeValidTopics: every documented event name makes a valid topic, once.
func TestEventsMakeValidTopics(t *testing.T) {
	t.Parallel()
	providertest.RequireValidEventTopics(t, github.Topic, github.Events)
	for _, e := range github.Events {
		require.Equal(t, strings.ToLower(e), e)
	}
	require.Subset(t, github.Events, []string{"push", "pull_request", "ping"})
}
