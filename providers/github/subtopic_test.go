package github_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/github"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

const subTopicSecret = "sub-topic-test-secret"

// signedPush returns GitHub's headers for body with the delivery id and, unless it is empty,
// X-GitHub-Event set to each of events.
func signedPush(body []byte, delivery string, events ...string) http.Header {
	h := providertest.Header(github.HeaderDelivery, delivery, github.HeaderSignature, "sha256="+providertest.HMACHex(subTopicSecret, body))
	for _, e := range events {
		h.Add(github.HeaderEvent, e)
	}
	return h
}

// TestSubTopic: the ingress publishes a signed delivery on github and, in the same batch, on
// github.<X-GitHub-Event> with the same id, key, time, payload and metadata, plus
// event_name_source: unsigned-header. A delivery without the header, or with a name that is
// no documented event, stays on github alone.
func TestSubTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		events    []string // X-GitHub-Event values, in order
		wantTopic string   // "" for no sub-topic
		unknown   bool     // the github event is marked event_name_unknown
	}{
		{name: "push", events: []string{"push"}, wantTopic: "github.push"},
		{name: "pull request", events: []string{"pull_request"}, wantTopic: "github.pull_request"},
		{name: "repository", events: []string{"repository"}, wantTopic: "github.repository"},
		{name: "no event header"},
		{name: "a name that is no topic", events: []string{"push hook"}, unknown: true},
		{name: "a name too long for a topic", events: []string{strings.Repeat("x", 300)}, unknown: true},
		{name: "the header twice: the joined value subscribers see is no event", events: []string{"push", "push"}, unknown: true},
	}
	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"acme/api"}}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := providertest.NewIngress(t, github.NewSource(github.Config{WebhookSecret: ingress.Secrets{subTopicSecret}}))
			events := in.Accept(t, github.Topic, signedPush(body, "d-1", tt.events...), body)
			if tt.wantTopic == "" {
				e := providertest.RequireNoSubTopic(t, events, github.Topic, tt.unknown)
				require.Equal(t, "d-1", e.ID)
				require.Equal(t, strings.Join(tt.events, ", "), e.Metadata["x-github-event"])
				return
			}
			_, sub := providertest.RequireSubTopic(t, events, github.Topic, tt.wantTopic, ingress.FromUnsignedHeader)
			require.Equal(t, "d-1", sub.ID, "the delivery id")
			require.Equal(t, "acme/api", sub.Key, "the repository")
			require.Equal(t, body, sub.Payload)
			require.Equal(t, tt.events[0], sub.Metadata["x-github-event"])
			require.Equal(t, "d-1", sub.Metadata[eventsvc.MetaCorrelationID])
		})
	}
}

// TestRefusedBatch: when the bus refuses the batch, neither event is published and the sender
// is answered 503; its retry of the same delivery publishes both.
func TestRefusedBatch(t *testing.T) {
	t.Parallel()
	body := []byte(`{"repository":{"full_name":"acme/api"}}`)
	in := providertest.NewIngress(t, github.NewSource(github.Config{WebhookSecret: ingress.Secrets{subTopicSecret}}))
	in.Bus.Err = errors.New("broker unreachable")
	w := in.Post(github.Topic, signedPush(body, "d-2", "push"), body)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Empty(t, in.Bus.Published())

	in.Bus.Err = nil
	events := in.Accept(t, github.Topic, signedPush(body, "d-2", "push"), body)
	providertest.RequireSubTopic(t, events, github.Topic, "github.push", ingress.FromUnsignedHeader)
}

// TestSource: the source names events from the unsigned X-GitHub-Event header, and documents
// GitHub's event names.
func TestSource(t *testing.T) {
	t.Parallel()
	src := github.NewSource(github.Config{})
	require.Equal(t, ingress.FromUnsignedHeader, src.EventNameSource)
	require.Equal(t, "push", src.EventName(providertest.Header(github.HeaderEvent, "push"), []byte(`{"action":"opened"}`)))
	require.Empty(t, src.EventName(providertest.Header(), []byte(`{"action":"opened"}`)))
	require.Equal(t, github.Events, src.KnownEvents)
}
