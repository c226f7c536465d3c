package bitbucket_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/bitbucket"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

// TestSignaturesStayOffTheBus: neither X-Hub-Signature nor the basic-auth Authorization
// Bitbucket Server may send reaches the metadata of either topic's events.
func TestSignaturesStayOffTheBus(t *testing.T) {
	t.Parallel()
	const secret = "hardening-test-secret"
	body := []byte(`{"repository":{"full_name":"acme/api","slug":"api","project":{"key":"ACME"}}}`)
	secrets := ingress.Secrets{secret}
	in := providertest.NewIngress(t, bitbucket.NewCloudSource(bitbucket.CloudConfig{WebhookSecret: secrets}), bitbucket.NewServerSource(bitbucket.ServerConfig{WebhookSecret: secrets}))
	sig := "sha256=" + providertest.HMACHex(secret, body)
	cloud := providertest.Header(bitbucket.HeaderEventKey, "repo:push", bitbucket.HeaderCloudDelivery, "c-1", bitbucket.HeaderSignature, sig)
	server := providertest.Header(bitbucket.HeaderEventKey, "repo:refs_changed", bitbucket.HeaderServerDelivery, "s-1", bitbucket.HeaderSignature, sig,
		"Authorization", "Basic dXNlcjpwYXNzd29yZA==")
	require.Equal(t, http.StatusAccepted, in.Post(bitbucket.TopicCloud, cloud, body).Code)
	require.Equal(t, http.StatusAccepted, in.Post(bitbucket.TopicServer, server, body).Code)
	in.Route(t, bitbucket.NewCloudRouter(in.Bus))
	in.Route(t, bitbucket.NewServerRouter(in.Bus))
	events := in.Bus.Published()
	require.Len(t, events, 4)
	for _, e := range events {
		require.NotContains(t, e.Metadata, "x-hub-signature", e.Topic)
		require.NotContains(t, e.Metadata, "authorization", e.Topic)
		require.NotEmpty(t, e.Metadata["x-event-key"])
	}
}

// TestRouterRoutesOnlyDocumentedEvents: invented X-Event-Key values get no sub-topic, nor do
// one product's keys on the other's topic; documented ones and subTopics do.
func TestRouterRoutesOnlyDocumentedEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		router           func(eventsvc.Publisher, ...string) eventsvc.Subscription
		topic, key, want string
		subTopics        []string
	}{
		{router: bitbucket.NewCloudRouter, topic: bitbucket.TopicCloud, key: "pullrequest:fulfilled", want: "bitbucketCloud.pullrequest:fulfilled"},
		{router: bitbucket.NewCloudRouter, topic: bitbucket.TopicCloud, key: "repo:refs_changed"},
		{router: bitbucket.NewCloudRouter, topic: bitbucket.TopicCloud, key: "evil:000"},
		{router: bitbucket.NewServerRouter, topic: bitbucket.TopicServer, key: "pr:reviewer:needs_work", want: "bitbucketServer.pr:reviewer:needs_work"},
		{router: bitbucket.NewServerRouter, topic: bitbucket.TopicServer, key: "repo:push"},
		{router: bitbucket.NewServerRouter, topic: bitbucket.TopicServer, key: "pr:new_thing", subTopics: []string{"pr:new_thing"}, want: "bitbucketServer.pr:new_thing"},
	}
	for _, tt := range tests {
		e := eventsvc.Event{ID: "d-1", Topic: tt.topic, Payload: []byte(`{}`), Metadata: map[string]string{"x-event-key": tt.key}}
		providertest.RequireRoute(t, func(bus eventsvc.Publisher) eventsvc.Subscription { return tt.router(bus, tt.subTopics...) }, e, tt.want)
	}
}

// TestEventsMakeValidTopics: every documented event key makes a valid topic, once.
func TestEventsMakeValidTopics(t *testing.T) {
	t.Parallel()
	providertest.RequireValidEventTopics(t, bitbucket.TopicCloud, bitbucket.CloudEvents)
	providertest.RequireValidEventTopics(t, bitbucket.TopicServer, bitbucket.ServerEvents)
}
