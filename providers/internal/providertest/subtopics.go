package providertest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// RequireSubTopic requires events, what the ingress published for one webhook, to be the
// event on topic followed by its sub-topic event on sub, which has the same id, key, time and
// payload, metadata of the same trace that is the event's own plus event_name_source: source;
// and the event on topic to carry neither event_name_source nor event_name_unknown. It
// returns the two events.
func RequireSubTopic(t testing.TB, events []eventsvc.Event, topic, sub, source string) (event, subEvent eventsvc.Event) {
	t.Helper()
	require.Len(t, events, 2, "the %s event and its sub-topic event %s", topic, sub)
	event, subEvent = events[0], events[1]
	require.Equal(t, topic, event.Topic)
	require.Equal(t, sub, subEvent.Topic)
	require.NotEmpty(t, event.ID)
	require.Equal(t, event.ID, subEvent.ID, "the same event id")
	require.Equal(t, event.Key, subEvent.Key, "the same key")
	require.Equal(t, event.Payload, subEvent.Payload, "the same payload")
	require.True(t, event.Time.Equal(subEvent.Time), "the same time: %s and %s", event.Time, subEvent.Time)
	require.NotContains(t, event.Metadata, ingress.MetaEventNameSource)
	require.NotContains(t, event.Metadata, ingress.MetaEventNameUnknown)
	require.Equal(t, source, subEvent.Metadata[ingress.MetaEventNameSource])
	require.Equal(t, traceID(t, event), traceID(t, subEvent), "the same trace")
	want := map[string]string{ingress.MetaEventNameSource: source}
	got := map[string]string{}
	for k, v := range event.Metadata {
		if k != eventsvc.MetaTraceparent {
			want[k] = v
		}
	}
	for k, v := range subEvent.Metadata {
		if k != eventsvc.MetaTraceparent {
			got[k] = v
		}
	}
	require.Equal(t, want, got, "the event's metadata plus %s", ingress.MetaEventNameSource)
	return event, subEvent
}

// RequireNoSubTopic requires events, what the ingress published for one webhook, to be one
// event on topic, without event_name_source: marked event_name_unknown: "true" when unknown
// is set (the webhook names an event its provider does not document nor subTopics lists),
// unmarked when it is not (the webhook names no event). It returns the event.
func RequireNoSubTopic(t testing.TB, events []eventsvc.Event, topic string, unknown bool) eventsvc.Event {
	t.Helper()
	require.Len(t, events, 1, "the %s event alone", topic)
	e := events[0]
	require.Equal(t, topic, e.Topic)
	require.NotContains(t, e.Metadata, ingress.MetaEventNameSource)
	if unknown {
		require.Equal(t, "true", e.Metadata[ingress.MetaEventNameUnknown])
	} else {
		require.NotContains(t, e.Metadata, ingress.MetaEventNameUnknown)
	}
	return e
}

// traceID returns the trace id of e's traceparent (version-traceid-spanid-flags).
func traceID(t testing.TB, e eventsvc.Event) string {
	t.Helper()
	parts := strings.Split(e.Metadata[eventsvc.MetaTraceparent], "-")
	require.Len(t, parts, 4, "%s: traceparent %q", e.Topic, e.Metadata[eventsvc.MetaTraceparent])
	return parts[1]
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
