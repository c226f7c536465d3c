package gitea_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitea"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

const subTopicSecret = "sub-topic-test-secret"

// signed returns the headers of a delivery of body: the delivery id, the signature, and
// extra name, value pairs.
func signed(body []byte, id string, extra ...string) http.Header {
	return providertest.Header(append([]string{gitea.HeaderDelivery, id, gitea.HeaderSignature, providertest.HMACHex(subTopicSecret, body)}, extra...)...)
}

// TestSubTopic: the ingress publishes a delivery on gitea and, in the same batch, on
// gitea.<X-Gitea-Event>, else gitea.<X-Forgejo-Event>, with the same id, key, time, payload
// and metadata, plus event_name_source: unsigned-header. A delivery with neither header, or
// with a name that is no documented event, stays on gitea alone.
func TestSubTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		headers   []string // name, value pairs
		wantTopic string   // "" for no sub-topic
		unknown   bool     // the gitea event is marked event_name_unknown
	}{
		{name: "gitea push", headers: []string{gitea.HeaderEvent, "push", "X-GitHub-Event", "push"}, wantTopic: "gitea.push"},
		{name: "forgejo pull request", headers: []string{gitea.HeaderForgejoEvent, "pull_request"}, wantTopic: "gitea.pull_request"},
		{name: "gitea before forgejo", headers: []string{gitea.HeaderEvent, "create", gitea.HeaderForgejoEvent, "push"}, wantTopic: "gitea.create"},
		{name: "only GitHub's header", headers: []string{"X-GitHub-Event", "push"}},
		{name: "a name that is no topic", headers: []string{gitea.HeaderEvent, "push/evil"}, unknown: true},
	}
	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"platform/payments"}}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := providertest.NewIngress(t, gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{subTopicSecret}}))
			events := in.Accept(t, gitea.Topic, signed(body, "g-1", tt.headers...), body)
			if tt.wantTopic == "" {
				e := providertest.RequireNoSubTopic(t, events, gitea.Topic, tt.unknown)
				require.Equal(t, "g-1", e.ID)
				return
			}
			_, sub := providertest.RequireSubTopic(t, events, gitea.Topic, tt.wantTopic, ingress.FromUnsignedHeader)
			require.Equal(t, "g-1", sub.ID, "the delivery id")
			require.Equal(t, "platform/payments", sub.Key, "the repository")
			require.Equal(t, body, sub.Payload)
		})
	}
}

// TestRefusedBatch: when the bus refuses the batch, neither event is published and the sender
// is answered 503; its retry of the same delivery publishes both.
func TestRefusedBatch(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	in := providertest.NewIngress(t, gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{subTopicSecret}}))
	in.Bus.Err = errors.New("broker unreachable")
	w := in.Post(gitea.Topic, signed(body, "g-2", gitea.HeaderEvent, "push"), body)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Empty(t, in.Bus.Published())

	in.Bus.Err = nil
	events := in.Accept(t, gitea.Topic, signed(body, "g-2", gitea.HeaderEvent, "push"), body)
	providertest.RequireSubTopic(t, events, gitea.Topic, "gitea.push", ingress.FromUnsignedHeader)
}

// TestSource: the source names events from the unsigned X-Gitea-Event or X-Forgejo-Event
// header, and documents Gitea's event names.
func TestSource(t *testing.T) {
	t.Parallel()
	src := gitea.NewSource(gitea.Config{})
	require.Equal(t, ingress.FromUnsignedHeader, src.EventNameSource)
	require.Equal(t, "push", src.EventName(providertest.Header(gitea.HeaderForgejoEvent, "push"), []byte(`{}`)))
	require.Equal(t, gitea.Events, src.KnownEvents)
}
