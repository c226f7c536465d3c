package sqlbus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// target is a relay's destination that records what it was given, and refuses while failing.
type target struct {
	mu      sync.Mutex
	got     []eventsvc.Outgoing
	failing bool
	calls   int
}

func (tg *target) publish(_ context.Context, batch []eventsvc.Outgoing) error {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.calls++
	if tg.failing {
		return errors.New("target down")
	}
	tg.got = append(tg.got, batch...)
	return nil
}

func (tg *target) setFailing(f bool) {
	tg.mu.Lock()
	tg.failing = f
	tg.mu.Unlock()
}

// ids returns the ids received, in order.
func (tg *target) ids() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	out := make([]string, len(tg.got))
	for i, o := range tg.got {
		out[i] = o.Message.UUID
	}
	return out
}

func outgoing(topic, id, key string) eventsvc.Outgoing {
	m := message.NewMessage(id, []byte(`{"n":"`+id+`"}`))
	m.Metadata.Set(eventsvc.MetaKeyHeader, key)
	m.Metadata.Set("content-type", "application/json")
	return eventsvc.Outgoing{Topic: topic, Message: m}
}

// TestRelayPublishesWhatWasCommittedInOrder: everything stored through the outbox —
// batches, publishes made once, messages written in a caller's transaction — reaches the
// target once, in the order it was stored, with its payload and metadata and without the
// bus's bookkeeping; a rolled-back transaction's messages and a duplicate once key's never
// do; messages stored before the first relay on the database are not relayed.
func TestRelayPublishesWhatWasCommittedInOrder(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		b := startBus(t, db, testConfig())
		require.NoError(t, b.PublishBatch(ctx, []eventsvc.Outgoing{outgoing("github", "before", "k")}))
		tg := &target{}
		require.NoError(t, b.Relay(tg.publish))

		require.NoError(t, b.PublishBatch(ctx, []eventsvc.Outgoing{outgoing("github", "a1", "k1"), outgoing("github.push", "a2", "k1")}))
		once := eventsvc.Once{Scope: "github", ID: "delivery-1", Keep: time.Hour}
		require.NoError(t, b.PublishOnce(ctx, once, []eventsvc.Outgoing{outgoing("github", "b1", "k2")}))
		require.ErrorIs(t, b.PublishOnce(ctx, once, []eventsvc.Outgoing{outgoing("github", "b2", "k2")}), eventsvc.ErrDuplicate)

		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = b.PublishTx(ctx, tx, []eventsvc.Outgoing{outgoing("catalog.entity.upserted", "rolled-back", "c")})
		require.NoError(t, err)
		require.NoError(t, tx.Rollback())

		tx, err = db.BeginTx(ctx, nil)
		require.NoError(t, err)
		committed, err := b.PublishTx(ctx, tx, []eventsvc.Outgoing{outgoing("catalog.entity.upserted", "c1", "c"), outgoing("catalog.entity.deleted", "c2", "c")})
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		committed()

		want := []string{"a1", "a2", "b1", "c1", "c2"}
		require.Eventually(t, func() bool { return len(tg.ids()) >= len(want) }, 10*time.Second, 10*time.Millisecond)
		time.Sleep(100 * time.Millisecond) // nothing more arrives
		require.Equal(t, want, tg.ids())
		tg.mu.Lock()
		first := tg.got[0]
		tg.mu.Unlock()
		require.Equal(t, "github", first.Topic)
		require.JSONEq(t, `{"n":"a1"}`, string(first.Message.Payload))
		require.Equal(t, message.Metadata{eventsvc.MetaKeyHeader: "k1", "content-type": "application/json"}, first.Message.Metadata)

		lag, err := b.Lag(ctx)
		require.NoError(t, err)
		require.Equal(t, eventsvc.OutboxLag{}, lag)
	})
}

// TestRelayRetriesUntilTheTargetIsBack: while the target refuses, publishes are still
// accepted, the lag grows and is reported, and failures are counted; once it accepts, the
// backlog drains in order and the lag falls to zero.
func TestRelayRetriesUntilTheTargetIsBack(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		reg := prometheus.NewRegistry()
		b, err := sqlbus.New(db, testConfig(), zerolog.Nop(), reg)
		require.NoError(t, err)
		require.NoError(t, b.Start(ctx))
		t.Cleanup(func() { _ = b.Close() })
		tg := &target{failing: true}
		require.NoError(t, b.Relay(tg.publish))

		var want []string
		for i := range 1200 { // more than one pass of the relay
			id := fmt.Sprintf("m-%04d", i)
			want = append(want, id)
			require.NoError(t, b.PublishBatch(ctx, []eventsvc.Outgoing{outgoing("github", id, fmt.Sprint(i%7))}))
		}
		require.Eventually(t, func() bool {
			return gathered(t, reg, sqlbus.MetricOutboxFailures) >= 2
		}, 10*time.Second, 10*time.Millisecond)
		lag, err := b.Lag(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1200, lag.Messages)
		require.Positive(t, lag.Oldest)
		require.Empty(t, tg.ids())

		tg.setFailing(false)
		require.Eventually(t, func() bool { return len(tg.ids()) >= len(want) }, 20*time.Second, 10*time.Millisecond)
		require.Equal(t, want, tg.ids())
		require.Eventually(t, func() bool {
			return gathered(t, reg, sqlbus.MetricOutboxLag) == 0 &&
				gathered(t, reg, sqlbus.MetricOutboxRelayed) == 1200
		}, 10*time.Second, 10*time.Millisecond)
	})
}

// gathered sums the series of the metric named name in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestRelayRunsOnOneInstance: with two instances relaying from one database, one holds the
// lease and publishes everything once; when it closes, the other takes over at once and
// publishes what is stored after.
func TestRelayRunsOnOneInstance(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		a, b := newBus(t, db, testConfig()), newBus(t, db, testConfig())
		require.NoError(t, a.Start(ctx))
		require.NoError(t, b.Start(ctx))
		t.Cleanup(func() { _ = b.Close() })
		tg := &target{} // shared: a message published by both would show twice
		require.NoError(t, a.Relay(tg.publish))
		time.Sleep(50 * time.Millisecond) // a takes the lease first
		require.NoError(t, b.Relay(tg.publish))

		var want []string
		publish := func(from *sqlbus.Bus, n int) {
			for range n {
				id := fmt.Sprintf("m-%04d", len(want))
				want = append(want, id)
				require.NoError(t, from.PublishBatch(ctx, []eventsvc.Outgoing{outgoing("github", id, "k")}))
			}
		}
		publish(a, 100)
		publish(b, 100)
		require.Eventually(t, func() bool { return len(tg.ids()) >= len(want) }, 10*time.Second, 10*time.Millisecond)
		time.Sleep(200 * time.Millisecond)
		require.Equal(t, want, tg.ids(), "each message published once, in order")

		require.NoError(t, a.Close()) // releases the lease
		publish(b, 50)
		require.Eventually(t, func() bool { return len(tg.ids()) >= len(want) }, 10*time.Second, 10*time.Millisecond,
			"the other instance takes over well within its lease renewal")
		require.Equal(t, want, tg.ids())
	})
}

// TestRelayStopRecordsThePassInFlight: closing the bus while the relay's publish is under way
// (a graceful stop) waits for it and records what it published, so that the next relay on the
// database does not publish it again.
func TestRelayStopRecordsThePassInFlight(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		a := newBus(t, db, testConfig())
		require.NoError(t, a.Start(ctx))
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		first := &target{}
		require.NoError(t, a.Relay(func(ctx context.Context, batch []eventsvc.Outgoing) error {
			once.Do(func() { close(entered) })
			<-release
			return first.publish(ctx, batch)
		}))
		require.NoError(t, a.PublishBatch(ctx, []eventsvc.Outgoing{outgoing("github", "in-flight", "k")}))
		<-entered
		closed := make(chan error, 1)
		go func() { closed <- a.Close() }()
		time.Sleep(100 * time.Millisecond) // the stop waits for the pass
		close(release)
		require.NoError(t, <-closed)
		require.Equal(t, []string{"in-flight"}, first.ids())

		b := startBus(t, db, testConfig())
		next := &target{}
		require.NoError(t, b.Relay(next.publish))
		require.NoError(t, b.PublishBatch(ctx, []eventsvc.Outgoing{outgoing("github", "after", "k")}))
		require.Eventually(t, func() bool { return len(next.ids()) > 0 }, 10*time.Second, 10*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
		require.Equal(t, []string{"after"}, next.ids(), "what the stopped relay published is not published again")
	})
}
