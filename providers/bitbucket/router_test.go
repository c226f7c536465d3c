package bitbucket_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/bitbucket"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		router    func(eventsvc.Publisher, ...string) eventsvc.Subscription
		topic     string
		eventKey  string // X-Event-Key; "" for none
		wantTopic string // "" when nothing is routed
	}{
		{name: "cloud push", router: bitbucket.NewCloudRouter, topic: bitbucket.TopicCloud, eventKey: "repo:push", wantTopic: "bitbucketCloud.repo:push"},
		{name: "cloud pull request", router: bitbucket.NewCloudRouter, topic: bitbucket.TopicCloud, eventKey: "pullrequest:created", wantTopic: "bitbucketCloud.pullrequest:created"},
		{name: "server refs changed", router: bitbucket.NewServerRouter, topic: bitbucket.TopicServer, eventKey: "repo:refs_changed", wantTopic: "bitbucketServer.repo:refs_changed"},
		{name: "server pull request", router: bitbucket.NewServerRouter, topic: bitbucket.TopicServer, eventKey: "pr:opened", wantTopic: "bitbucketServer.pr:opened"},
		{name: "cloud without X-Event-Key", router: bitbucket.NewCloudRouter, topic: bitbucket.TopicCloud},
		{name: "server with a key that is no topic", router: bitbucket.NewServerRouter, topic: bitbucket.TopicServer, eventKey: "repo/refs changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := &eventsvctest.Recorder{}
			meta := map[string]string{"x-request-uuid": "r-1"}
			if tt.eventKey != "" {
				meta["x-event-key"] = tt.eventKey
			}
			in := eventsvc.Event{ID: "r-1", Topic: tt.topic, Key: "PLAT/payments", Payload: []byte(`{"repository":{}}`), Metadata: meta}
			require.NoError(t, bus.Deliver(context.Background(), tt.router(bus), in), "an unroutable event is skipped, not retried")
			got := bus.Published()
			if tt.wantTopic == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			out := got[0]
			require.Equal(t, tt.wantTopic, out.Topic)
			require.Equal(t, "r-1", out.ID)
			require.Equal(t, "PLAT/payments", out.Key)
			require.Equal(t, in.Payload, out.Payload)
			require.Equal(t, "unsigned-header", out.Metadata["event_name_source"])
			require.Equal(t, tt.eventKey, out.Metadata["x-event-key"])
		})
	}
}

func TestRouterPublishFailureIsRetried(t *testing.T) {
	t.Parallel()
	bus := &eventsvctest.Recorder{Err: errors.New("broker unreachable")}
	err := bus.Deliver(context.Background(), bitbucket.NewServerRouter(bus), eventsvc.Event{Topic: bitbucket.TopicServer, Payload: []byte(`{}`), Metadata: map[string]string{"x-event-key": "repo:refs_changed"}})
	require.ErrorContains(t, err, "broker unreachable")
}

func TestRouterSubscriptions(t *testing.T) {
	t.Parallel()
	cloud, server := bitbucket.NewCloudRouter(&eventsvctest.Recorder{}), bitbucket.NewServerRouter(&eventsvctest.Recorder{})
	require.Equal(t, "bitbucketCloud-event-router", cloud.ID)
	require.Equal(t, []string{"bitbucketCloud"}, cloud.Topics)
	require.Equal(t, "bitbucketServer-event-router", server.ID)
	require.Equal(t, []string{"bitbucketServer"}, server.Topics)
}
