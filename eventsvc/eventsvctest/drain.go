package eventsvctest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
)

// stopHandlesWhatWasFetched: a graceful stop hands out and handles the events the backend
// holds already — here one queued behind its key's event in a handler — and a new instance of
// the subscription afterwards handles nothing a second time. Events of other keys are handled
// and acknowledged meanwhile; a queued event left unhandled at the stop would hold back the
// recording of those acknowledgements, and they would be delivered again.
func (s *suite) stopHandlesWhatWasFetched(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic, sub := names("topic"), names("sub")
	first := eventsvc.Event{ID: uuid.NewString(), Topic: topic, Key: "a"}
	queued := eventsvc.Event{ID: uuid.NewString(), Topic: topic, Key: "a"}
	started, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // a failed check must not leave Stop waiting for the handler
	c := &collector{}
	handler := func(ctx context.Context, e eventsvc.Event) error {
		if e.ID == first.ID {
			select {
			case <-started:
			default:
				close(started)
			}
			<-release
		}
		return c.handle(ctx, e)
	}
	subscription := eventsvc.Subscription{ID: sub, Topics: []string{topic}, Handler: handler}
	in := s.start(t, bus, subscription)

	const others = 100 // enough keys that some share a partition (and none a lane) with key a
	events := []eventsvc.Event{first, queued}
	for i := range others {
		events = append(events, eventsvc.Event{ID: uuid.NewString(), Topic: topic, Key: fmt.Sprintf("k%d", i)})
	}
	publish(t, in.svc, events...)
	select {
	case <-started:
	case <-time.After(s.cfg.Wait):
		t.Fatal("the first event's handler did not start")
	}
	// Most other keys are handled while key a's first event is in its handler (a few may
	// share its lane and wait behind it).
	s.waitFor(t, "other keys handled", func() bool { return c.count() >= others*9/10 })
	settle()

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- in.svc.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	unblock()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(s.cfg.Wait):
		t.Fatal("Stop did not return after the handler finished")
	}
	require.Equal(t, len(events), c.count(), "the stop handled every event it held, including the one queued behind the handler")

	marker := eventsvc.Event{ID: uuid.NewString(), Topic: topic, Key: "marker"}
	again := s.start(t, bus, subscription)
	publish(t, again.svc, marker)
	s.waitFor(t, "the new instance handles new events", func() bool { return c.count() > len(events) })
	settle()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range append(events, marker) {
		require.Equal(t, 1, c.seen[e.ID], "event %s (key %s) handled once", e.ID, e.Key)
	}
	require.Equal(t, len(events)+1, len(c.events), "nothing else was delivered")
	again.stop(t)
}
