package providertest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
)

// RequireRoute delivers e to the router newRouter builds on a recording bus, and requires it
// to publish exactly one event on the topic want — or nothing when want is "" (an event
// name the provider does not document, which must not become a topic).
func RequireRoute(t *testing.T, newRouter func(eventsvc.Publisher) eventsvc.Subscription, e eventsvc.Event, want string) {
	t.Helper()
	bus := &eventsvctest.Recorder{}
	require.NoError(t, bus.Deliver(context.Background(), newRouter(bus), e))
	if want == "" {
		require.Empty(t, bus.Published(), "%s %v: routed although the name is not known", e.Topic, e.Metadata)
		return
	}
	require.Len(t, bus.Published(), 1, "%s %v", e.Topic, e.Metadata)
	require.Equal(t, want, bus.Published()[0].Topic)
}

// RequireValidEventTopics requires every documented event name of topic to make a valid
// sub-topic, and to be listed once.
func RequireValidEventTopics(t *testing.T, topic string, events []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range events {
		require.NoError(t, eventsvc.ValidateTopic(topic+"."+e))
		require.False(t, seen[e], "%s listed twice", e)
		seen[e] = true
	}
}
