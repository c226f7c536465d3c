package eventsvctest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
)

// batchAcrossTopics: a batch of events of two topics reaches each topic's subscribers, in the
// batch's order.
func (s *suite) batchAcrossTopics(t *testing.T) {
	bus := s.cfg.NewBus(t)
	t1, t2 := names("topic"), names("topic")
	var a, b collector
	in := s.start(t, bus,
		eventsvc.Subscription{ID: names("sub-a"), Topics: []string{t1}, Handler: a.handle},
		eventsvc.Subscription{ID: names("sub-b"), Topics: []string{t2}, Handler: b.handle},
	)
	var batch []eventsvc.Event
	for i := range 10 {
		batch = append(batch,
			eventsvc.Event{ID: fmt.Sprintf("b-%d", i), Topic: t1, Key: "k", Payload: []byte(fmt.Sprint(i))},
			eventsvc.Event{ID: fmt.Sprintf("b-%d", i), Topic: t2, Key: "k", Payload: []byte(fmt.Sprint(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, in.svc.PublishBatch(ctx, batch...))
	s.waitFor(t, "both topics' events delivered", func() bool { return a.count() >= 10 && b.count() >= 10 })
	settle()
	for _, got := range [][]eventsvc.Event{a.snapshot(), b.snapshot()} {
		require.Len(t, got, 10)
		for i, e := range got {
			require.Equal(t, fmt.Sprintf("b-%d", i), e.ID)
			require.Equal(t, fmt.Sprint(i), string(e.Payload))
		}
	}
	require.Equal(t, a.snapshot()[0].Metadata[eventsvc.MetaTraceparent][:35], b.snapshot()[0].Metadata[eventsvc.MetaTraceparent][:35],
		"the events of a batch published without a trace join one trace")
	in.stop(t)
}

// batchAllOrNothing: on a backend whose batches are atomic, a batch with a message the bus
// refuses fails as a whole, and none of its events is delivered.
func (s *suite) batchAllOrNothing(t *testing.T) {
	bus := s.cfg.NewBus(t)
	t1, t2 := names("topic"), names("topic")
	poison := names("poison")
	s.cfg.RefuseMessage(t, bus, poison)
	var c collector
	in := s.start(t, bus, eventsvc.Subscription{ID: names("sub"), Topics: []string{t1, t2}, Handler: c.handle})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := in.svc.PublishBatch(ctx,
		eventsvc.Event{ID: "before", Topic: t1},
		eventsvc.Event{ID: poison, Topic: t2},
		eventsvc.Event{ID: "after", Topic: t1})
	require.Error(t, err, "the bus refused a message of the batch")
	publish(t, in.svc, eventsvc.Event{ID: "marker", Topic: t1})
	s.waitFor(t, "the marker delivered", func() bool { return c.count() >= 1 })
	settle()
	got := c.snapshot()
	require.Len(t, got, 1, "nothing of the refused batch is delivered: %v", got)
	require.Equal(t, "marker", got[0].ID)
	in.stop(t)
}
