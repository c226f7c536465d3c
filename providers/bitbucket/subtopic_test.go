package bitbucket_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/bitbucket"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

const subTopicSecret = "sub-topic-test-secret"

// newIngress returns an ingress of both Bitbucket topics, with subTopics by topic.
func newIngress(t *testing.T, subTopics map[string][]string) *providertest.Ingress {
	t.Helper()
	secrets := ingress.Secrets{subTopicSecret}
	return providertest.NewIngressWithSubTopics(t, subTopics,
		bitbucket.NewCloudSource(bitbucket.CloudConfig{WebhookSecret: secrets}),
		bitbucket.NewServerSource(bitbucket.ServerConfig{WebhookSecret: secrets}))
}

// signed returns the headers of a delivery of body to topic: its delivery id header, the
// signature and, unless it is empty, X-Event-Key.
func signed(topic string, body []byte, id, eventKey string) http.Header {
	delivery := bitbucket.HeaderCloudDelivery
	if topic == bitbucket.TopicServer {
		delivery = bitbucket.HeaderServerDelivery
	}
	h := providertest.Header(delivery, id, bitbucket.HeaderSignature, "sha256="+providertest.HMACHex(subTopicSecret, body))
	if eventKey != "" {
		h.Set(bitbucket.HeaderEventKey, eventKey)
	}
	return h
}

// TestSubTopic: the ingress publishes a delivery on its topic and, in the same batch, on
// <topic>.<X-Event-Key> with the same id, key, time, payload and metadata, plus
// event_name_source: unsigned-header. A delivery without the header, or with a key that is no
// documented event, stays on its topic alone.
func TestSubTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		topic     string
		eventKey  string // X-Event-Key; "" for none
		wantTopic string // "" for no sub-topic
		wantKey   string // the event key (ordering)
	}{
		{name: "cloud push", topic: bitbucket.TopicCloud, eventKey: "repo:push", wantTopic: "bitbucketCloud.repo:push", wantKey: "PLAT/payments"},
		{name: "cloud pull request", topic: bitbucket.TopicCloud, eventKey: "pullrequest:created", wantTopic: "bitbucketCloud.pullrequest:created", wantKey: "PLAT/payments"},
		{name: "server refs changed", topic: bitbucket.TopicServer, eventKey: "repo:refs_changed", wantTopic: "bitbucketServer.repo:refs_changed", wantKey: "PLAT/payments"},
		{name: "server pull request", topic: bitbucket.TopicServer, eventKey: "pr:opened", wantTopic: "bitbucketServer.pr:opened", wantKey: "PLAT/payments"},
		{name: "cloud without X-Event-Key", topic: bitbucket.TopicCloud},
		{name: "server with a key that is no topic", topic: bitbucket.TopicServer, eventKey: "repo/refs changed"},
	}
	body := []byte(`{"repository":{"full_name":"PLAT/payments","slug":"payments","project":{"key":"PLAT"}}}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := newIngress(t, nil)
			events := in.Accept(t, tt.topic, signed(tt.topic, body, "r-1", tt.eventKey), body)
			if tt.wantTopic == "" {
				e := providertest.RequireNoSubTopic(t, events, tt.topic, tt.eventKey != "")
				require.Equal(t, "r-1", e.ID)
				return
			}
			_, sub := providertest.RequireSubTopic(t, events, tt.topic, tt.wantTopic, ingress.FromUnsignedHeader)
			require.Equal(t, "r-1", sub.ID, "the delivery id")
			require.Equal(t, tt.wantKey, sub.Key)
			require.Equal(t, body, sub.Payload)
			require.Equal(t, tt.eventKey, sub.Metadata["x-event-key"])
		})
	}
}

// TestRefusedBatch: when the bus refuses the batch, neither event is published and the sender
// is answered 503; its retry of the same delivery publishes both.
func TestRefusedBatch(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	in := newIngress(t, nil)
	in.Bus.Err = errors.New("broker unreachable")
	w := in.Post(bitbucket.TopicServer, signed(bitbucket.TopicServer, body, "r-2", "repo:refs_changed"), body)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Empty(t, in.Bus.Published())

	in.Bus.Err = nil
	events := in.Accept(t, bitbucket.TopicServer, signed(bitbucket.TopicServer, body, "r-2", "repo:refs_changed"), body)
	providertest.RequireSubTopic(t, events, bitbucket.TopicServer, "bitbucketServer.repo:refs_changed", ingress.FromUnsignedHeader)
}

// TestSources: both sources name events from the unsigned X-Event-Key header, each with its
// product's documented keys.
func TestSources(t *testing.T) {
	t.Parallel()
	h := providertest.Header(bitbucket.HeaderEventKey, "repo:push")
	cloud, server := bitbucket.NewCloudSource(bitbucket.CloudConfig{}), bitbucket.NewServerSource(bitbucket.ServerConfig{})
	for _, src := range []ingress.Source{cloud, server} {
		require.Equal(t, ingress.FromUnsignedHeader, src.EventNameSource, src.Topic)
		require.Equal(t, "repo:push", src.EventName(h, []byte(`{"eventKey":"pr:opened"}`)), src.Topic)
	}
	require.Equal(t, bitbucket.CloudEvents, cloud.KnownEvents)
	require.Equal(t, bitbucket.ServerEvents, server.KnownEvents)
}
