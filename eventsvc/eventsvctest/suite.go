package eventsvctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stagebus/stagebus/eventsvc"
)

// Bus makes backends that share one bus, as instances share a broker.
type Bus interface {
	// NewBackend returns a new backend connected to the bus; the suite starts and closes it.
	NewBackend(t *testing.T) eventsvc.Backend
}

// Config describes the backend under test.
type Config struct {
	// NewBus returns a bus for one test. Topic and subscription names are unique per test, so
	// buses may be shared.
	NewBus func(t *testing.T) Bus
	// Wait bounds every wait for deliveries (default 20s); raise it for slow brokers.
	Wait time.Duration
	// LeakOptions are passed to goleak for goroutines the backend's libraries keep on purpose.
	LeakOptions []goleak.Option
	// RefuseMessage makes the bus refuse to store the message with the given id, from now
	// on. Set it for backends whose batches are all-or-nothing (eventsvc.BatchBackend on one
	// transaction): the suite then checks that a batch with a refused message stores none of
	// its messages. Nil for backends that cannot promise it.
	RefuseMessage func(t *testing.T, bus Bus, id string)
}

// Run runs the conformance suite. Its tests run one after another, so that goroutine leaks
// can be checked at the end.
func Run(t *testing.T, cfg Config) {
	if cfg.Wait == 0 {
		cfg.Wait = 20 * time.Second
	}
	ignore := append([]goleak.Option{goleak.IgnoreCurrent()}, cfg.LeakOptions...)
	s := &suite{cfg: cfg}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"PublishSubscribe", s.publishSubscribe},
		{"GroupDelivery", s.groupDelivery},
		{"FanOutAcrossIDs", s.fanOut},
		{"RetriesThenSuccess", s.retries},
		{"DeadLetterAfterMaxAttempts", s.deadLetters},
		{"OrderPerKey", s.orderPerKey},
		{"ReplayWaitsForLiveKey", s.replayWaitsForLiveKey},
		{"MetadataRoundTrip", s.metadata},
		{"GracefulDrain", s.gracefulDrain},
		{"StopHandlesWhatWasFetched", s.stopHandlesWhatWasFetched},
		{"RuntimeSubscribe", s.runtimeSubscribe},
		{"PublishAfterStop", s.publishAfterStop},
		{"BatchAcrossTopics", s.batchAcrossTopics},
	}
	if cfg.RefuseMessage != nil {
		tests = append(tests, struct {
			name string
			fn   func(t *testing.T)
		}{"BatchAllOrNothing", s.batchAllOrNothing})
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
	t.Run("NoLeakedGoroutines", func(t *testing.T) {
		goleak.VerifyNone(t, ignore...)
	})
}

type suite struct {
	cfg Config
}

// names returns a topic or subscription name unique to this test.
func names(prefix string) string {
	return prefix + "-" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
}

var fastRetry = eventsvc.RetryPolicy{MaxAttempts: 3, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond}

// instance is a running Service on a backend of the bus.
type instance struct {
	svc  *eventsvc.Service
	dead *DeadLetters
	logs *syncBuffer
}

func (s *suite) start(t *testing.T, bus Bus, subs ...eventsvc.Subscription) *instance {
	t.Helper()
	logs := &syncBuffer{}
	in := &instance{dead: &DeadLetters{}, logs: logs}
	svc, err := eventsvc.New(eventsvc.Options{
		Backend:       bus.NewBackend(t),
		Retry:         fastRetry,
		DeadLetters:   in.dead,
		Logger:        zerolog.New(logs),
		Registerer:    prometheus.NewRegistry(),
		Subscriptions: subs,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Wait)
	defer cancel()
	require.NoError(t, svc.Start(ctx))
	in.svc = svc
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return in
}

func (in *instance) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, in.svc.Stop(ctx))
}

func publish(t *testing.T, p eventsvc.Publisher, events ...eventsvc.Event) {
	t.Helper()
	for _, e := range events {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, p.Publish(ctx, e))
		cancel()
	}
}

// collector records handled events.
type collector struct {
	mu     sync.Mutex
	events []eventsvc.Event
	seen   map[string]int
}

func (c *collector) handle(_ context.Context, e eventsvc.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.events = append(c.events, e)
	c.seen[e.ID]++
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *collector) snapshot() []eventsvc.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventsvc.Event(nil), c.events...)
}

func (s *suite) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, s.cfg.Wait, 5*time.Millisecond, what)
}

// settle waits a little to catch deliveries that should not happen.
func settle() { time.Sleep(300 * time.Millisecond) }

func (s *suite) publishSubscribe(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic := names("topic")
	var c collector
	in := s.start(t, bus, eventsvc.Subscription{ID: names("sub"), Topics: []string{topic}, Handler: c.handle})
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	var sent []eventsvc.Event
	for i := range 20 {
		e := eventsvc.Event{ID: fmt.Sprintf("ev-%02d", i), Topic: topic, Key: "k", Payload: []byte{0, byte(i), 0xff}, Metadata: map[string]string{"x-seq": fmt.Sprint(i)}, Time: at}
		sent = append(sent, e)
	}
	publish(t, in.svc, sent...)
	s.waitFor(t, "all 20 events delivered", func() bool { return c.count() >= 20 })
	settle()
	got := c.snapshot()
	require.Len(t, got, 20, "each event exactly once")
	for i, e := range got {
		require.Equal(t, sent[i].ID, e.ID)
		require.Equal(t, topic, e.Topic)
		require.Equal(t, "k", e.Key)
		require.Equal(t, sent[i].Payload, e.Payload)
		require.Equal(t, fmt.Sprint(i), e.Metadata["x-seq"])
		require.True(t, at.Equal(e.Time), "time %s != %s", e.Time, at)
	}
	in.stop(t)
}

func (s *suite) groupDelivery(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic, id := names("topic"), names("sub")
	var a, b collector
	ia := s.start(t, bus, eventsvc.Subscription{ID: id, Topics: []string{topic}, Handler: a.handle})
	ib := s.start(t, bus, eventsvc.Subscription{ID: id, Topics: []string{topic}, Handler: b.handle})
	// Warm up until both members receive events, so that the group is settled before the
	// counted events (a rebalance may deliver uncommitted events again: at least once).
	s.waitFor(t, "both members of the group receive events", func() bool {
		publish(t, ia.svc, eventsvc.Event{Topic: topic, Key: uuid.NewString(), Metadata: map[string]string{"warmup": "1"}})
		return a.count() > 0 && b.count() > 0
	})
	settle()
	before := a.count() + b.count()
	const n = 60
	for i := range n {
		p := ia.svc
		if i%2 == 1 {
			p = ib.svc
		}
		publish(t, p, eventsvc.Event{ID: fmt.Sprintf("g-%d", i), Topic: topic, Key: fmt.Sprintf("key-%d", i%12)})
	}
	s.waitFor(t, "every event handled by the group", func() bool { return a.count()+b.count()-before >= n })
	settle()
	seen := map[string]int{}
	for _, e := range append(a.snapshot(), b.snapshot()...) {
		if e.Metadata["warmup"] == "" {
			seen[e.ID]++
		}
	}
	require.Len(t, seen, n)
	for id, k := range seen {
		require.Equal(t, 1, k, "event %s handled %d times by one subscription id", id, k)
	}
	ia.stop(t)
	ib.stop(t)
}

func (s *suite) fanOut(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic := names("topic")
	var a, b collector
	in := s.start(t, bus,
		eventsvc.Subscription{ID: names("sub-a"), Topics: []string{topic}, Handler: a.handle},
		eventsvc.Subscription{ID: names("sub-b"), Topics: []string{topic}, Handler: b.handle},
	)
	for i := range 10 {
		publish(t, in.svc, eventsvc.Event{ID: fmt.Sprintf("f-%d", i), Topic: topic})
	}
	s.waitFor(t, "both subscriptions get all events", func() bool { return a.count() >= 10 && b.count() >= 10 })
	settle()
	require.Equal(t, 10, a.count())
	require.Equal(t, 10, b.count())
	in.stop(t)
}

func (s *suite) retries(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic := names("topic")
	var mu sync.Mutex
	attempts := map[string]int{}
	in := s.start(t, bus, eventsvc.Subscription{ID: names("sub"), Topics: []string{topic}, Handler: func(_ context.Context, e eventsvc.Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[e.ID]++
		if attempts[e.ID] < 3 {
			return errors.New("not yet")
		}
		return nil
	}})
	for i := range 5 {
		publish(t, in.svc, eventsvc.Event{ID: fmt.Sprintf("r-%d", i), Topic: topic, Key: fmt.Sprint(i)})
	}
	s.waitFor(t, "every event succeeds on its third attempt", func() bool {
		mu.Lock()
		defer mu.Unlock()
		done := 0
		for _, n := range attempts {
			if n >= 3 {
				done++
			}
		}
		return done == 5
	})
	settle()
	mu.Lock()
	for id, n := range attempts {
		require.Equal(t, 3, n, "attempts of %s", id)
	}
	mu.Unlock()
	require.Empty(t, in.dead.Records())
	in.stop(t)
}

func (s *suite) deadLetters(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic, id := names("topic"), names("sub")
	var calls atomic.Int32
	in := s.start(t, bus, eventsvc.Subscription{ID: id, Topics: []string{topic}, Handler: func(_ context.Context, e eventsvc.Event) error {
		calls.Add(1)
		if e.ID == "panics" {
			panic("handler bug")
		}
		return errors.New("downstream is down")
	}})
	publish(t, in.svc,
		eventsvc.Event{ID: "fails", Topic: topic, Key: "a", Payload: []byte(`{"n":1}`), Metadata: map[string]string{"x": "y"}},
		eventsvc.Event{ID: "panics", Topic: topic, Key: "b"},
	)
	s.waitFor(t, "both events dead-lettered", func() bool { return len(in.dead.Records()) == 2 })
	settle()
	require.EqualValues(t, 2*fastRetry.MaxAttempts, calls.Load(), "no call after the last attempt")
	byID := map[string]eventsvc.DeadLetter{}
	for _, d := range in.dead.Records() {
		byID[d.Event.ID] = d
	}
	fails := byID["fails"]
	require.Equal(t, id, fails.Subscription)
	require.Equal(t, topic, fails.Topic)
	require.Equal(t, fastRetry.MaxAttempts, fails.Attempts)
	require.Equal(t, "downstream is down", fails.Error)
	require.Equal(t, []byte(`{"n":1}`), fails.Event.Payload)
	require.Equal(t, "y", fails.Event.Metadata["x"])
	require.Equal(t, "a", fails.Event.Key)
	require.Equal(t, "panic: handler bug", byID["panics"].Error)
	in.stop(t)
}

func (s *suite) orderPerKey(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic := names("topic")
	const keys, perKey = 6, 15
	var mu sync.Mutex
	last := map[string]int{}
	active := map[string]bool{}
	var running, maxRunning int
	var violations []string
	handled := 0
	in := s.start(t, bus, eventsvc.Subscription{ID: names("sub"), Topics: []string{topic}, Concurrency: 8, Handler: func(_ context.Context, e eventsvc.Event) error {
		var seq int
		_, _ = fmt.Sscan(e.Metadata["seq"], &seq)
		mu.Lock()
		if active[e.Key] {
			violations = append(violations, "key "+e.Key+" handled twice at once")
		}
		if seq != last[e.Key]+1 {
			violations = append(violations, fmt.Sprintf("key %s: got %d after %d", e.Key, seq, last[e.Key]))
		}
		active[e.Key] = true
		running++
		maxRunning = max(maxRunning, running)
		mu.Unlock()
		time.Sleep(3 * time.Millisecond)
		mu.Lock()
		last[e.Key] = seq
		active[e.Key] = false
		running--
		handled++
		mu.Unlock()
		return nil
	}})
	for i := 1; i <= perKey; i++ {
		for k := range keys {
			publish(t, in.svc, eventsvc.Event{Topic: topic, Key: fmt.Sprintf("repo-%d", k), Metadata: map[string]string{"seq": fmt.Sprint(i)}})
		}
	}
	s.waitFor(t, "all events handled", func() bool { mu.Lock(); defer mu.Unlock(); return handled >= keys*perKey })
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, violations)
	require.GreaterOrEqual(t, maxRunning, 2, "different keys are handled in parallel")
	for k := range keys {
		require.Equal(t, perKey, last[fmt.Sprintf("repo-%d", k)])
	}
	in.stop(t)
}

func (s *suite) metadata(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic, next := names("topic"), names("next")
	type seen struct {
		meta        map[string]string
		corr, tp    string
		hasEvent    bool
		loggedTrace bool
	}
	got := make(chan seen, 2)
	in := &instance{}
	handler := func(ctx context.Context, e eventsvc.Event) error {
		ev, ok := eventsvc.EventFromContext(ctx)
		var buf bytes.Buffer
		l := zerolog.Ctx(ctx).Output(&buf)
		l.Info().Msg("handling")
		var line map[string]any
		_ = json.Unmarshal(buf.Bytes(), &line)
		got <- seen{meta: e.Metadata, corr: eventsvc.CorrelationIDFromContext(ctx), tp: eventsvc.TraceparentFromContext(ctx),
			hasEvent: ok && ev.ID == e.ID, loggedTrace: line["trace_id"] != nil && line["correlation_id"] == eventsvc.CorrelationIDFromContext(ctx)}
		if e.Topic == topic {
			// A handler's publish carries the correlation id and trace on.
			return in.svc.Publish(ctx, eventsvc.Event{Topic: next})
		}
		return nil
	}
	*in = *s.start(t, bus, eventsvc.Subscription{ID: names("sub"), Topics: []string{topic, next}, Handler: handler})
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := eventsvc.ContextWithTraceparent(eventsvc.ContextWithCorrelationID(context.Background(), "corr-1"), tp)
	require.NoError(t, in.svc.Publish(ctx, eventsvc.Event{Topic: topic, Metadata: map[string]string{"X-GitHub-Event": "push", "empty": ""}}))
	var first, second seen
	for i, dst := range []*seen{&first, &second} {
		select {
		case *dst = <-got:
		case <-time.After(s.cfg.Wait):
			t.Fatalf("delivery %d did not arrive", i+1)
		}
	}
	require.Equal(t, "push", first.meta["X-GitHub-Event"])
	require.Contains(t, first.meta, "empty")
	for _, sn := range []seen{first, second} {
		require.Equal(t, "corr-1", sn.corr)
		require.Equal(t, "corr-1", sn.meta[eventsvc.MetaCorrelationID])
		require.True(t, sn.hasEvent)
		require.True(t, sn.loggedTrace, "the handler's logger carries trace and correlation ids")
		require.Equal(t, tp[3:35], sn.tp[3:35], "same trace")
		require.NotEqual(t, tp[36:52], sn.tp[36:52], "a new span for the handler")
	}
	require.Equal(t, first.tp, second.meta[eventsvc.MetaTraceparent], "the handler's span is the parent of what it publishes")
	in.stop(t)
}

func (s *suite) gracefulDrain(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic := names("topic")
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	in := s.start(t, bus, eventsvc.Subscription{ID: names("sub"), Topics: []string{topic}, Handler: func(context.Context, eventsvc.Event) error {
		close(started)
		<-release
		finished.Store(true)
		return nil
	}})
	publish(t, in.svc, eventsvc.Event{Topic: topic})
	select {
	case <-started:
	case <-time.After(s.cfg.Wait):
		t.Fatal("handler did not start")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- in.svc.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(s.cfg.Wait):
		t.Fatal("Stop did not return after the handler finished")
	}
	require.True(t, finished.Load(), "the in-flight handler completed before Stop returned")
}

func (s *suite) runtimeSubscribe(t *testing.T) {
	bus := s.cfg.NewBus(t)
	topic := names("topic")
	in := s.start(t, bus)
	var c collector
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Wait)
	defer cancel()
	sub := eventsvc.Subscription{ID: names("sub"), Topics: []string{topic}, Handler: c.handle}
	r, err := in.svc.Subscribe(ctx, sub)
	require.NoError(t, err)
	_, err = in.svc.Subscribe(ctx, sub)
	require.ErrorContains(t, err, "already running")
	publish(t, in.svc, eventsvc.Event{ID: "one", Topic: topic})
	s.waitFor(t, "the runtime subscription receives", func() bool { return c.count() == 1 })
	require.NoError(t, r.Close(ctx))
	publish(t, in.svc, eventsvc.Event{ID: "two", Topic: topic})
	settle()
	require.Equal(t, 1, c.count(), "nothing after Close")
	in.stop(t)
}

func (s *suite) publishAfterStop(t *testing.T) {
	bus := s.cfg.NewBus(t)
	in := s.start(t, bus)
	in.stop(t)
	err := in.svc.Publish(context.Background(), eventsvc.Event{Topic: names("topic")})
	require.ErrorIs(t, err, eventsvc.ErrClosed)
	_, err = in.svc.Subscribe(context.Background(), eventsvc.Subscription{ID: "x", Topics: []string{"t"}, Handler: func(context.Context, eventsvc.Event) error { return nil }})
	require.ErrorIs(t, err, eventsvc.ErrClosed)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
