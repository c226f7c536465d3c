package gitea_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/gitea"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		meta      map[string]string
		wantTopic string // "" when nothing is routed
	}{
		{name: "gitea push", meta: map[string]string{"x-gitea-event": "push", "x-github-event": "push"}, wantTopic: "gitea.push"},
		{name: "forgejo pull request", meta: map[string]string{"x-forgejo-event": "pull_request"}, wantTopic: "gitea.pull_request"},
		{name: "gitea before forgejo", meta: map[string]string{"x-gitea-event": "create", "x-forgejo-event": "push"}, wantTopic: "gitea.create"},
		{name: "only GitHub's header", meta: map[string]string{"x-github-event": "push"}},
		{name: "a name that is no topic", meta: map[string]string{"x-gitea-event": "push/evil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := &eventsvctest.Recorder{}
			in := eventsvc.Event{ID: "g-1", Topic: gitea.Topic, Key: "platform/payments", Payload: []byte(`{"ref":"refs/heads/main"}`), Metadata: tt.meta}
			require.NoError(t, bus.Deliver(context.Background(), gitea.NewRouter(bus), in), "an unroutable event is skipped, not retried")
			got := bus.Published()
			if tt.wantTopic == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			out := got[0]
			require.Equal(t, tt.wantTopic, out.Topic)
			require.Equal(t, "g-1", out.ID)
			require.Equal(t, "platform/payments", out.Key)
			require.Equal(t, in.Payload, out.Payload)
			require.Equal(t, "unsigned-header", out.Metadata["event_name_source"])
		})
	}
}

func TestRouterPublishFailureIsRetried(t *testing.T) {
	t.Parallel()
	bus := &eventsvctest.Recorder{Err: errors.New("broker unreachable")}
	err := bus.Deliver(context.Background(), gitea.NewRouter(bus), eventsvc.Event{Topic: gitea.Topic, Payload: []byte(`{}`), Metadata: map[string]string{"x-gitea-event": "push"}})
	require.ErrorContains(t, err, "broker unreachable")
}

func TestRouterSubscription(t *testing.T) {
	t.Parallel()
	sub := gitea.NewRouter(&eventsvctest.Recorder{})
	require.Equal(t, "gitea-event-router", sub.ID)
	require.Equal(t, []string{"gitea"}, sub.Topics)
}
