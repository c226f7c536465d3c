package gitlab_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitlab"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

const subTopicToken = "sub-topic-test-token"

// delivered returns GitLab's headers with the secret token, the delivery id and, unless it is
// empty, X-Gitlab-Event.
func delivered(id, event string) http.Header {
	h := providertest.Header(gitlab.HeaderToken, subTopicToken, gitlab.HeaderEventUUID, id)
	if event != "" {
		h.Set(gitlab.HeaderEvent, event)
	}
	return h
}

// TestSubTopic: the ingress publishes a delivery on gitlab and, in the same batch, on
// gitlab.<object_kind>, else gitlab.<event_name>, with the same id, key, time, payload and
// metadata, plus event_name_source: payload. The name comes from the payload, whatever
// X-Gitlab-Event says when the ingress accepts the pair; a payload with neither field stays on
// gitlab alone, and one whose name is no documented event is marked event_name_unknown.
func TestSubTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		header    string // X-Gitlab-Event
		payload   string
		wantTopic string // "" for no sub-topic
		unknown   bool   // the gitlab event is marked event_name_unknown
	}{
		{name: "merge request (no event_name: Backstage drops it)", header: "Merge Request Hook",
			payload: `{"object_kind":"merge_request","event_type":"merge_request","project":{"path_with_namespace":"platform/payments"}}`, wantTopic: "gitlab.merge_request"},
		{name: "push", header: "Push Hook", payload: `{"object_kind":"push","event_name":"push"}`, wantTopic: "gitlab.push"},
		{name: "tag push", header: "Tag Push Hook", payload: `{"object_kind":"tag_push","event_name":"tag_push"}`, wantTopic: "gitlab.tag_push"},
		{name: "job", header: "Job Hook", payload: `{"object_kind":"build"}`, wantTopic: "gitlab.build"},
		{name: "object_kind before event_name", header: "Resource Access Token Hook",
			payload: `{"object_kind":"access_token","event_name":"expiring_access_token"}`, wantTopic: "gitlab.access_token"},
		{name: "system hook with only event_name", header: "System Hook", payload: `{"event_name":"project_create"}`, wantTopic: "gitlab.project_create"},
		{name: "object_kind that is not a string", header: "Push Hook", payload: `{"object_kind":7,"event_name":"push"}`, wantTopic: "gitlab.push"},
		{name: "a header GitLab may add later: the signed payload decides", header: "Brand New Hook",
			payload: `{"object_kind":"merge_request"}`, wantTopic: "gitlab.merge_request"},
		{name: "neither object_kind nor event_name", header: "System Hook", payload: `{"ref":"refs/heads/main"}`},
		{name: "a kind that is no topic", header: "System Hook", payload: `{"object_kind":"push hook"}`, unknown: true},
		{name: "not an object", payload: `"push"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := providertest.NewIngress(t, gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{subTopicToken}}))
			events := in.Accept(t, gitlab.Topic, delivered("uuid-1", tt.header), []byte(tt.payload))
			if tt.wantTopic == "" {
				e := providertest.RequireNoSubTopic(t, events, gitlab.Topic, tt.unknown)
				require.Equal(t, "uuid-1", e.ID)
				return
			}
			_, sub := providertest.RequireSubTopic(t, events, gitlab.Topic, tt.wantTopic, ingress.FromPayload)
			require.Equal(t, "uuid-1", sub.ID, "the delivery id")
			require.Equal(t, []byte(tt.payload), sub.Payload)
			require.Equal(t, tt.header, sub.Metadata["x-gitlab-event"], "the header travels as it came")
			require.NotContains(t, sub.Metadata, "x-gitlab-token")
		})
	}
}

// TestSubTopicKey: the sub-topic event has the gitlab event's key, the project's path.
func TestSubTopicKey(t *testing.T) {
	t.Parallel()
	in := providertest.NewIngress(t, gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{subTopicToken}}))
	body := []byte(`{"object_kind":"push","project":{"path_with_namespace":"platform/payments"}}`)
	_, sub := providertest.RequireSubTopic(t, in.Accept(t, gitlab.Topic, delivered("uuid-2", "Push Hook"), body), gitlab.Topic, "gitlab.push", ingress.FromPayload)
	require.Equal(t, "platform/payments", sub.Key)
}

// TestRefusedBatch: when the bus refuses the batch, neither event is published and the sender
// is answered 503; its retry of the same delivery publishes both.
func TestRefusedBatch(t *testing.T) {
	t.Parallel()
	body := []byte(`{"object_kind":"push"}`)
	in := providertest.NewIngress(t, gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{subTopicToken}}))
	in.Bus.Err = errors.New("broker unreachable")
	w := in.Post(gitlab.Topic, delivered("uuid-3", "Push Hook"), body)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Empty(t, in.Bus.Published())

	in.Bus.Err = nil
	providertest.RequireSubTopic(t, in.Accept(t, gitlab.Topic, delivered("uuid-3", "Push Hook"), body), gitlab.Topic, "gitlab.push", ingress.FromPayload)
}

// TestSource: the source names events from the payload, and documents GitLab's event names.
func TestSource(t *testing.T) {
	t.Parallel()
	src := gitlab.NewSource(gitlab.Config{})
	require.Equal(t, ingress.FromPayload, src.EventNameSource)
	require.Equal(t, "push", src.EventName(providertest.Header(gitlab.HeaderEvent, "Merge Request Hook"), []byte(`{"object_kind":"push"}`)),
		"the payload, not the header")
	require.Equal(t, gitlab.Events, src.KnownEvents)
}
