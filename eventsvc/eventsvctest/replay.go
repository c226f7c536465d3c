package eventsvctest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
)

// replayWaitsForLiveKey: a dead-letter replay (Service.Redeliver) of an event with key K,
// made while a live event with key K is in its handler, waits for that handler to return;
// a replay with another key does not wait.
func (s *suite) replayWaitsForLiveKey(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic, sub := names("topic"), names("sub")
	liveStarted, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // a failed check must not leave Stop waiting for the live handler
	var mu sync.Mutex
	active := map[string]string{} // key → id of the event in the handler
	var trace, overlaps []string
	in := s.start(t, bus, eventsvc.Subscription{ID: sub, Topics: []string{topic}, Handler: func(_ context.Context, e eventsvc.Event) error {
		mu.Lock()
		if other, busy := active[e.Key]; busy {
			overlaps = append(overlaps, e.ID+" ran beside "+other)
		}
		active[e.Key] = e.ID
		trace = append(trace, "start "+e.ID)
		mu.Unlock()
		if e.ID == "live" {
			close(liveStarted)
			<-release
		}
		mu.Lock()
		delete(active, e.Key)
		trace = append(trace, "end "+e.ID)
		mu.Unlock()
		return nil
	}})
	publish(t, in.svc, eventsvc.Event{ID: "live", Topic: topic, Key: "repo-1"})
	select {
	case <-liveStarted:
	case <-time.After(s.cfg.Wait):
		t.Fatal("the live event was not delivered")
	}

	replay := func(id, key string) <-chan error {
		done := make(chan error, 1)
		require.NoError(t, in.svc.Redeliver(sub, eventsvc.Event{ID: id, Topic: topic, Key: key, Time: time.Now()}, func(err error) { done <- err }))
		return done
	}
	other := replay("replay-other-key", "repo-2")
	same := replay("replay-same-key", "repo-1")
	select {
	case err := <-other:
		require.NoError(t, err, "a replay with another key runs at once")
	case <-time.After(s.cfg.Wait):
		t.Fatal("a replay with another key waited for the live event")
	}
	settle() // room for a broken bus to run the replay beside the live event
	require.Empty(t, snapshot(&mu, &overlaps))
	select {
	case err := <-same:
		t.Fatalf("the replay with the live event's key finished (%v) while the live event was in its handler", err)
	default:
	}

	unblock()
	select {
	case err := <-same:
		require.NoError(t, err)
	case <-time.After(s.cfg.Wait):
		t.Fatal("the replay did not run after the live event")
	}
	require.Empty(t, snapshot(&mu, &overlaps))
	require.Equal(t, []string{"start live", "start replay-other-key", "end replay-other-key", "end live", "start replay-same-key", "end replay-same-key"},
		snapshot(&mu, &trace))
	in.stop(t)
}

// snapshot copies *s under mu, so that a failed check never exits holding the lock.
func snapshot(mu *sync.Mutex, s *[]string) []string {
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), *s...)
}
