package gitlab_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/gitlab"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		header    string // X-Gitlab-Event
		payload   string
		wantTopic string // "" when nothing is routed
	}{
		{name: "merge request (no event_name: Backstage drops it)", header: "Merge Request Hook",
			payload: `{"object_kind":"merge_request","event_type":"merge_request"}`, wantTopic: "gitlab.merge_request"},
		{name: "push", header: "Push Hook", payload: `{"object_kind":"push","event_name":"push"}`, wantTopic: "gitlab.push"},
		{name: "tag push", header: "Tag Push Hook", payload: `{"object_kind":"tag_push","event_name":"tag_push"}`, wantTopic: "gitlab.tag_push"},
		{name: "job", header: "Job Hook", payload: `{"object_kind":"build"}`, wantTopic: "gitlab.build"},
		{name: "object_kind before event_name", header: "Resource Access Token Hook",
			payload: `{"object_kind":"access_token","event_name":"expiring_access_token"}`, wantTopic: "gitlab.access_token"},
		{name: "system hook with only event_name", header: "System Hook", payload: `{"event_name":"project_create"}`, wantTopic: "gitlab.project_create"},
		{name: "object_kind that is not a string", header: "Push Hook", payload: `{"object_kind":7,"event_name":"push"}`, wantTopic: "gitlab.push"},
		{name: "header and payload disagree: the signed payload decides", header: "Push Hook",
			payload: `{"object_kind":"merge_request"}`, wantTopic: "gitlab.merge_request"},
		{name: "neither object_kind nor event_name", header: "Push Hook", payload: `{"ref":"refs/heads/main"}`},
		{name: "a kind that is no topic", header: "Push Hook", payload: `{"object_kind":"push hook"}`},
		{name: "not an object", payload: `"push"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := &eventsvctest.Recorder{}
			in := eventsvc.Event{ID: "uuid-1", Topic: gitlab.Topic, Key: "platform/payments", Payload: []byte(tt.payload),
				Metadata: map[string]string{"x-gitlab-event": tt.header, "x-gitlab-event-uuid": "uuid-1"}}
			require.NoError(t, bus.Deliver(context.Background(), gitlab.NewRouter(bus), in), "an unroutable event is skipped, not retried")
			got := bus.Published()
			if tt.wantTopic == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			out := got[0]
			require.Equal(t, tt.wantTopic, out.Topic)
			require.Equal(t, "uuid-1", out.ID)
			require.Equal(t, "platform/payments", out.Key)
			require.Equal(t, in.Payload, out.Payload)
			require.Equal(t, "payload", out.Metadata["event_name_source"])
			require.Equal(t, tt.header, out.Metadata["x-gitlab-event"], "the header travels as it came")
		})
	}
}

func TestRouterPublishFailureIsRetried(t *testing.T) {
	t.Parallel()
	bus := &eventsvctest.Recorder{Err: errors.New("broker unreachable")}
	err := bus.Deliver(context.Background(), gitlab.NewRouter(bus), eventsvc.Event{Topic: gitlab.Topic, Payload: []byte(`{"object_kind":"push"}`)})
	require.ErrorContains(t, err, "broker unreachable")
}

func TestRouterSubscription(t *testing.T) {
	t.Parallel()
	sub := gitlab.NewRouter(&eventsvctest.Recorder{})
	require.Equal(t, "gitlab-event-router", sub.ID)
	require.Equal(t, []string{"gitlab"}, sub.Topics)
}
