package bitbucket_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

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
	cloudEvents := in.Accept(t, bitbucket.TopicCloud, cloud, body)
	providertest.RequireSubTopic(t, cloudEvents, bitbucket.TopicCloud, "bitbucketCloud.repo:push", ingress.FromUnsignedHeader)
	serverEvents := in.Accept(t, bitbucket.TopicServer, server, body)
	providertest.RequireSubTopic(t, serverEvents, bitbucket.TopicServer, "bitbucketServer.repo:refs_changed", ingress.FromUnsignedHeader)
	for _, e := range append(cloudEvents, serverEvents...) {
		require.NotContains(t, e.Metadata, "x-hub-signature", e.Topic)
		require.NotContains(t, e.Metadata, "authorization", e.Topic)
		require.NotEmpty(t, e.Metadata["x-event-key"])
	}
}

// TestOnlyDocumentedEventsGetSubTopics: invented X-Event-Key values get no sub-topic, nor do
// one product's keys on the other's topic (the event is marked event_name_unknown);
// documented ones and subTopics do.
func TestOnlyDocumentedEventsGetSubTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		topic, key, want string
		subTopics        []string
	}{
		{topic: bitbucket.TopicCloud, key: "pullrequest:fulfilled", want: "bitbucketCloud.pullrequest:fulfilled"},
		{topic: bitbucket.TopicCloud, key: "repo:refs_changed"},
		{topic: bitbucket.TopicCloud, key: "evil:000"},
		{topic: bitbucket.TopicServer, key: "pr:reviewer:needs_work", want: "bitbucketServer.pr:reviewer:needs_work"},
		{topic: bitbucket.TopicServer, key: "repo:push"},
		{topic: bitbucket.TopicServer, key: "pr:new_thing"},
		{topic: bitbucket.TopicServer, key: "pr:new_thing", subTopics: []string{"pr:new_thing"}, want: "bitbucketServer.pr:new_thing"},
		{topic: bitbucket.TopicCloud, key: "pr:new_thing", subTopics: []string{"pr:new_thing"}},
	}
	body := []byte(`{}`)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s with subTopics %v", tt.topic, tt.key, tt.subTopics), func(t *testing.T) {
			t.Parallel()
			in := newIngress(t, map[string][]string{bitbucket.TopicServer: tt.subTopics})
			events := in.Accept(t, tt.topic, signed(tt.topic, body, "d-1", tt.key), body)
			if tt.want == "" {
				providertest.RequireNoSubTopic(t, events, tt.topic, true)
				return
			}
			providertest.RequireSubTopic(t, events, tt.topic, tt.want, ingress.FromUnsignedHeader)
		})
	}
}

// TestEventsMakeValidTopics: every documented event key makes a valid topic, once.
func TestEventsMakeValidTopics(t *testing.T) {
	t.Parallel()
	providertest.RequireValidEventTopics(t, bitbucket.TopicCloud, bitbucket.CloudEvents)
	providertest.RequireValidEventTopics(t, bitbucket.TopicServer, bitbucket.ServerEvents)
}
