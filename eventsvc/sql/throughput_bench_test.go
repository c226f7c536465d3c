package sqlbus_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// The throughput workload, the same for both buses.
const (
	// throughputEvents is how many events one measurement publishes.
	throughputEvents = 5000
	// throughputPublishers is how many goroutines publish them, each its share one at a time.
	throughputPublishers = 16
	// throughputKeys is how many ordering keys the events are spread over.
	throughputKeys = 64
	// throughputPayload is the approximate size of an event's JSON payload in bytes.
	throughputPayload = 2500
	// throughputTopic is the topic (and, for Stagebus, the subscription id) of the run.
	throughputTopic = "throughput"
	// throughputWait bounds the wait for every event to reach its handler.
	throughputWait = 2 * time.Minute
	// watermillPollInterval is how long watermill-sql's subscriber waits after a query that
	// found nothing (its default is 1s); short, so that its figure is not its idle wait.
	watermillPollInterval = 10 * time.Millisecond
)

// workEvent is one event of the workload.
type workEvent struct {
	id, key string
	payload []byte
}

// workload returns the events of one measurement: fresh UUIDs, keys spread round robin over
// throughputKeys, and JSON payloads of about throughputPayload bytes whose filler is random
// hex, so that PostgreSQL's TOAST compression does not shrink them to nothing.
func workload(b *testing.B) []workEvent {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	filler := make([]byte, throughputPayload/2)
	for i := range filler {
		filler[i] = byte(rng.Uint32())
	}
	body := hex.EncodeToString(filler)
	events := make([]workEvent, throughputEvents)
	for i := range events {
		key := fmt.Sprintf("repo-%02d", i%throughputKeys)
		payload, err := json.Marshal(map[string]any{"action": "pushed", "repository": key, "n": i, "body": body})
		if err != nil {
			b.Fatal(err)
		}
		events[i] = workEvent{id: uuid.NewString(), key: key, payload: payload}
	}
	return events
}

// tally records the ids that reached a handler and when the last new one arrived.
type tally struct {
	mu         sync.Mutex
	want       map[string]bool
	seen       map[string]struct{}
	unexpected int
	last       time.Time
	changed    chan struct{} // closed, and replaced, when a new id is seen
}

func newTally(events []workEvent, extra ...string) *tally {
	t := &tally{want: map[string]bool{}, seen: map[string]struct{}{}, changed: make(chan struct{})}
	for _, e := range events {
		t.want[e.id] = true
	}
	for _, id := range extra {
		t.want[id] = true
	}
	return t
}

// add records one handler call.
func (t *tally) add(id string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.want[id] {
		t.unexpected++
		return
	}
	if _, dup := t.seen[id]; dup {
		return
	}
	t.seen[id] = struct{}{}
	t.last = now
	close(t.changed)
	t.changed = make(chan struct{})
}

// waitFor waits until n distinct expected ids were seen and returns when the nth arrived; it
// fails the benchmark after throughputWait or on an unexpected id.
func (t *tally) waitFor(b *testing.B, what string, n int) time.Time {
	b.Helper()
	deadline := time.NewTimer(throughputWait)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		seen, unexpected, last, changed := len(t.seen), t.unexpected, t.last, t.changed
		t.mu.Unlock()
		if unexpected > 0 {
			b.Fatalf("%s: %d handler calls with an id that was not published", what, unexpected)
		}
		if seen >= n {
			return last
		}
		select {
		case <-changed:
		case <-deadline.C:
			b.Fatalf("%s: %d of %d events reached the handler within %s", what, seen, n, throughputWait)
		}
	}
}

// publishAll publishes the events from throughputPublishers goroutines, each its share (every
// throughputPublishers-th event) one at a time, and returns when they started and the first
// error.
func publishAll(events []workEvent, publish func(workEvent) error) (time.Time, error) {
	start := make(chan struct{})
	errs := make(chan error, throughputPublishers)
	var wg sync.WaitGroup
	for g := range throughputPublishers {
		wg.Go(func() {
			<-start
			for i := g; i < len(events); i += throughputPublishers {
				if err := publish(events[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	close(errs)
	return began, <-errs
}

// watermillThroughput measures raw watermill-sql on a fresh schema of the test PostgreSQL:
// its default PostgreSQL schema and offsets adapters, the schema initialised by Subscribe,
// one consumer group, and a handler that counts and acks. It returns the time from the first
// publish to the handler call of the last event.
func watermillThroughput(b *testing.B, events []workEvent) time.Duration {
	b.Helper()
	db := databasetest.Postgres(b, nil)
	wdb := wmsql.BeginnerFromStdSQL(db.DB)
	logger := watermill.NopLogger{}
	pub, err := wmsql.NewPublisher(wdb, wmsql.PublisherConfig{SchemaAdapter: wmsql.DefaultPostgreSQLSchema{}}, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close() //nolint:errcheck
	sub, err := wmsql.NewSubscriber(wdb, wmsql.SubscriberConfig{
		ConsumerGroup:    throughputTopic,
		PollInterval:     watermillPollInterval,
		SchemaAdapter:    wmsql.DefaultPostgreSQLSchema{},
		OffsetsAdapter:   wmsql.DefaultPostgreSQLOffsetsAdapter{},
		InitializeSchema: true,
	}, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close() //nolint:errcheck
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, throughputTopic)
	if err != nil {
		b.Fatal(err)
	}
	warmup := uuid.NewString()
	got := newTally(events, warmup)
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		for msg := range msgs {
			got.add(msg.UUID)
			msg.Ack()
		}
	}()
	defer func() { cancel(); <-handled }() // the channel closes once the subscription ends
	publish := func(e workEvent) error {
		msg := message.NewMessage(e.id, e.payload)
		msg.Metadata.Set("key", e.key)
		return pub.Publish(throughputTopic, msg)
	}
	// One event first, so that the subscriber runs and the connections are open.
	if err := publish(workEvent{id: warmup, key: "warmup", payload: []byte(`{}`)}); err != nil {
		b.Fatal(err)
	}
	got.waitFor(b, "watermill warm-up", 1)
	began, err := publishAll(events, publish)
	if err != nil {
		b.Fatalf("watermill publish: %v", err)
	}
	return got.waitFor(b, "watermill", len(events)+1).Sub(began)
}

// stagebusThroughput measures the EventsService on Stagebus's SQL bus on a fresh schema of
// the test PostgreSQL, with the bus's default configuration and one subscription (default
// concurrency) whose handler counts. It returns the time from the first publish to the
// handler call of the last event.
func stagebusThroughput(b *testing.B, events []workEvent) time.Duration {
	b.Helper()
	var cfg sqlbus.Config
	cfg.SetDefaults()
	bus, err := sqlbus.New(databasetest.Postgres(b, sqlbus.Migrations), cfg, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := eventsvc.New(eventsvc.Options{
		Backend: bus, Retry: eventsvc.RetryPolicy{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	warmup := uuid.NewString()
	got := newTally(events, warmup)
	if err := svc.Declare(eventsvc.Subscription{ID: throughputTopic, Topics: []string{throughputTopic}, Handler: func(_ context.Context, e eventsvc.Event) error {
		got.add(e.ID)
		return nil
	}}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer svc.Stop(ctx) //nolint:errcheck
	publish := func(e workEvent) error {
		return svc.Publish(ctx, eventsvc.Event{ID: e.id, Topic: throughputTopic, Key: e.key, Payload: e.payload})
	}
	if err := publish(workEvent{id: warmup, key: "warmup", payload: []byte(`{}`)}); err != nil {
		b.Fatal(err)
	}
	got.waitFor(b, "stagebus warm-up", 1)
	began, err := publishAll(events, publish)
	if err != nil {
		b.Fatalf("stagebus publish: %v", err)
	}
	return got.waitFor(b, "stagebus", len(events)+1).Sub(began)
}

// BenchmarkThroughputPostgres measures publish→handler throughput on the test PostgreSQL, in
// events per second from the first publish to the handler call of the last event, for raw
// watermill-sql (v4, default PostgreSQL schema and offsets adapters, one consumer group,
// polling every 10ms instead of its default 1s) and for the EventsService on Stagebus's SQL
// bus (default configuration, one subscription), each on a fresh schema, in the same run,
// with the same workload: 5,000 events with JSON payloads of about 2.5 KB over 64 ordering
// keys (watermill-sql carries the key as metadata and does not order by it), published one
// at a time by 16 goroutines, after one warm-up event. Every event must reach the handler,
// or the benchmark fails. It reports watermill-events/s, stagebus-events/s and their ratio
// (stagebus/watermill; goal ≥ 1.0). The test PostgreSQL of scripts/services runs with
// fsync=off and synchronous_commit=off: these figures measure the buses' own work, not
// durable commits. Run: make bench, or
//
//	./scripts/services run -- go test -run '^$' -bench ThroughputPostgres -benchtime 1x -count 3 ./eventsvc/sql/
func BenchmarkThroughputPostgres(b *testing.B) {
	var raw, ours time.Duration
	for range b.N {
		events := workload(b)
		raw += watermillThroughput(b, events)
		ours += stagebusThroughput(b, events)
	}
	n := float64(b.N * throughputEvents)
	rawRate, ourRate := n/raw.Seconds(), n/ours.Seconds()
	b.ReportMetric(rawRate, "watermill-events/s")
	b.ReportMetric(ourRate, "stagebus-events/s")
	b.ReportMetric(ourRate/rawRate, "ratio")
}
