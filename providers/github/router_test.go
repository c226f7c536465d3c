package github_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/github"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestRouter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		event     string // X-GitHub-Event; "-" for none
		wantTopic string // "" when nothing is routed
	}{
		{name: "push", event: "push", wantTopic: "github.push"},
		{name: "pull request", event: "pull_request", wantTopic: "github.pull_request"},
		{name: "repository", event: "repository", wantTopic: "github.repository"},
		{name: "no event header", event: "-"},
		{name: "a name that is no topic", event: "push hook"},
		{name: "a name too long for a topic", event: strings.Repeat("x", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := &eventsvctest.Recorder{}
			meta := map[string]string{"x-github-delivery": "d-1", "x-hub-signature-256": "sha256=00", eventsvc.MetaTraceparent: traceparent}
			if tt.event != "-" {
				meta["x-github-event"] = tt.event
			}
			in := eventsvc.Event{ID: "d-1", Topic: github.Topic, Key: "acme/api", Payload: []byte(`{"ref":"refs/heads/main"}`), Metadata: meta}
			require.NoError(t, bus.Deliver(context.Background(), github.NewRouter(bus), in), "an unroutable event is skipped, not retried")
			if tt.wantTopic == "" {
				require.Empty(t, bus.Published())
				return
			}
			got := bus.Published()
			require.Len(t, got, 1)
			out := got[0]
			require.Equal(t, tt.wantTopic, out.Topic)
			require.Equal(t, "d-1", out.ID, "the same event id")
			require.Equal(t, "acme/api", out.Key, "the same key")
			require.Equal(t, in.Payload, out.Payload)
			require.Equal(t, "unsigned-header", out.Metadata["event_name_source"])
			require.Equal(t, tt.event, out.Metadata["x-github-event"])
			require.Equal(t, "d-1", out.Metadata[eventsvc.MetaCorrelationID])
			tp := out.Metadata[eventsvc.MetaTraceparent]
			require.Equal(t, traceparent[:36], tp[:36], "the same trace")
			require.NotEqual(t, traceparent, tp, "the router's span, a child of the original's")
			for k, v := range in.Metadata {
				if k != eventsvc.MetaTraceparent {
					require.Equal(t, v, out.Metadata[k], k)
				}
			}
		})
	}
}

func TestRouterPublishFailureIsRetried(t *testing.T) {
	t.Parallel()
	bus := &eventsvctest.Recorder{Err: errors.New("broker unreachable")}
	err := bus.Deliver(context.Background(), github.NewRouter(bus), eventsvc.Event{ID: "d-2", Topic: github.Topic, Payload: []byte(`{}`), Metadata: map[string]string{"x-github-event": "push"}})
	require.ErrorContains(t, err, "broker unreachable", "the bus retries, then dead-letters")
}

func TestRouterSubscription(t *testing.T) {
	t.Parallel()
	sub := github.NewRouter(&eventsvctest.Recorder{})
	require.Equal(t, "github-event-router", sub.ID)
	require.Equal(t, []string{"github"}, sub.Topics)
}
