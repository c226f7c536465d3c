package sqlbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

const wait = 20 * time.Second

// counter records the ids a consumer acked.
type counter struct {
	mu  sync.Mutex
	ids map[string]int
	by  map[string]int // acks per consumer name
}

func newCounter() *counter { return &counter{ids: map[string]int{}, by: map[string]int{}} }

func (c *counter) consume(name string, ch <-chan *message.Message) {
	for m := range ch {
		c.mu.Lock()
		c.ids[m.UUID]++
		c.by[name]++
		c.mu.Unlock()
		m.Ack()
	}
}

func (c *counter) distinct() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.ids) }

func (c *counter) acksBy(name string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.by[name] }

func (c *counter) duplicates() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d []string
	for id, n := range c.ids {
		if n > 1 {
			d = append(d, id)
		}
	}
	return d
}

func publishN(t *testing.T, b *sqlbus.Bus, topic, prefix string, n int) {
	t.Helper()
	for i := range n {
		m := message.NewMessage(fmt.Sprintf("%s-%d", prefix, i), []byte("x"))
		m.Metadata.Set(eventsvc.MetaKeyHeader, fmt.Sprintf("key-%d", i%16))
		require.NoError(t, b.Publish(topic, m))
	}
}

// TestTwoInstancesShareAGroup: two buses on one database split a subscription id's work,
// each message is handled once, and when one instance closes the other carries on.
func TestTwoInstancesShareAGroup(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		a, b := startBus(t, db, cfg), startBus(t, db, cfg)
		topic := "topic-" + watermill.NewShortUUID()
		c := newCounter()
		subA, err := a.Subscriber("group")
		require.NoError(t, err)
		subB, err := b.Subscriber("group")
		require.NoError(t, err)
		chA, err := subA.Subscribe(t.Context(), topic)
		require.NoError(t, err)
		chB, err := subB.Subscribe(t.Context(), topic)
		require.NoError(t, err)
		go c.consume("a", chA)
		go c.consume("b", chB)

		// Both instances get a share once the partitions are rebalanced.
		i := 0
		require.Eventually(t, func() bool {
			publishN(t, a, topic, fmt.Sprintf("warm-%d", i), 16)
			i++
			return c.acksBy("a") > 0 && c.acksBy("b") > 0
		}, wait, 100*time.Millisecond, "both instances handle messages of the group")
		require.Eventually(t, func() bool { return c.distinct() == 16*i }, wait, 10*time.Millisecond)

		publishN(t, b, topic, "first", 100)
		require.Eventually(t, func() bool { return c.distinct() == 16*i+100 }, wait, 10*time.Millisecond)
		require.Empty(t, c.duplicates(), "a message handled twice by one group")

		// Instance a leaves; b takes its partitions over and handles everything.
		require.NoError(t, subA.Close())
		require.NoError(t, a.Close())
		before := c.acksBy("b")
		publishN(t, b, topic, "after", 100)
		require.Eventually(t, func() bool { return c.distinct() == 16*i+200 }, wait, 10*time.Millisecond)
		require.Equal(t, before+100, c.acksBy("b"))
		require.Empty(t, c.duplicates())
		require.NoError(t, subB.Close())
	})
}

// TestTakesOverFromKilledInstance: the leases of an instance that died without releasing them
// (simulated by its rows) expire, and a live instance then handles the group's messages from
// the recorded offset.
func TestTakesOverFromKilledInstance(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		cfg.LeaseTimeout = time.Second
		live := startBus(t, db, cfg)
		topic := "topic-" + watermill.NewShortUUID()
		publishN(t, live, topic, "m", 40)
		dead := time.Now().Add(cfg.LeaseTimeout).UnixNano()
		for p := range sqlbus.Partitions {
			_, err := db.Exec(`INSERT INTO bus_offsets (grp, topic, part, acked, owner, lease_until) VALUES ($1, $2, $3, 0, 'killed', $4)`, "group", topic, p, dead)
			require.NoError(t, err)
		}
		_, err := db.Exec(`INSERT INTO bus_members (grp, topic, owner, seen_until) VALUES ($1, $2, 'killed', $3)`, "group", topic, dead)
		require.NoError(t, err)

		sub, err := live.Subscriber("group")
		require.NoError(t, err)
		ch, err := sub.Subscribe(t.Context(), topic)
		require.NoError(t, err)
		c := newCounter()
		go c.consume("live", ch)
		require.Eventually(t, func() bool { return c.distinct() == 40 }, wait, 10*time.Millisecond)
		require.Empty(t, c.duplicates())
		require.NoError(t, sub.Close())
	})
}

// TestNotifiesOtherInstances: with a poll interval far beyond the test's wait, a publish on
// one database handle reaches a reader on another — through LISTEN/NOTIFY on PostgreSQL —
// and a publish in the same process wakes the reader at once.
func TestNotifiesOtherInstances(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		cfg.PollInterval = time.Minute // readers also look at every lease renewal: make it rare too
		cfg.LeaseTimeout = 2 * time.Minute
		handles := []*database.DB{db}
		if db.Dialect() == database.Postgres {
			other, err := database.Open(db.Config(), nil, zerolog.Nop())
			require.NoError(t, err)
			require.NoError(t, other.Start(t.Context()))
			t.Cleanup(func() { _ = other.Close() })
			handles = append(handles, other)
		}
		reader := startBus(t, db, cfg)
		topic := "topic-" + watermill.NewShortUUID()
		sub, err := reader.Subscriber("group")
		require.NoError(t, err)
		ch, err := sub.Subscribe(t.Context(), topic)
		require.NoError(t, err)
		c := newCounter()
		go c.consume("r", ch)
		time.Sleep(200 * time.Millisecond) // the reader joined and waits
		for i, h := range handles {
			pub := startBus(t, h, cfg)
			publishN(t, pub, topic, fmt.Sprintf("h%d", i), 1)
			require.Eventually(t, func() bool { return c.distinct() == i+1 }, 15*time.Second, 10*time.Millisecond,
				"publish on handle %d not delivered before the poll interval", i)
		}
		require.NoError(t, sub.Close())
	})
}

// TestRetentionReportsGroupsBehind: the purge deletes messages older than the retention and
// counts, per group, those the group had not handled; a group that had handled them is not
// reported.
func TestRetentionReportsGroupsBehind(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		reg := prometheus.NewRegistry()
		cfg := testConfig()
		b, err := sqlbus.New(db, cfg, zerolog.Nop(), reg)
		require.NoError(t, err)
		require.NoError(t, b.Start(t.Context()))
		t.Cleanup(func() { _ = b.Close() })
		topic := "topic-" + watermill.NewShortUUID()

		// Group "done" handles everything; group "behind" is registered at offset 0 only.
		publishN(t, b, topic, "old", 10)
		sub, err := b.Subscriber("done")
		require.NoError(t, err)
		ch, err := sub.Subscribe(t.Context(), topic)
		require.NoError(t, err)
		c := newCounter()
		go c.consume("done", ch)
		require.Eventually(t, func() bool { return c.distinct() == 10 }, wait, 10*time.Millisecond)
		require.NoError(t, sub.Close()) // records the offsets
		for p := range sqlbus.Partitions {
			_, err := db.Exec(`INSERT INTO bus_offsets (grp, topic, part, acked) VALUES ('behind', $1, $2, 0)`, topic, p)
			require.NoError(t, err)
		}

		b.SetClock(func() time.Time { return time.Now().Add(cfg.Retention + time.Minute) })
		require.NoError(t, b.Purge(context.Background()))

		behind := testutil.ToFloat64(counterOf(t, reg, sqlbus.MetricBehindRetention, topic, "behind"))
		require.Equal(t, 10.0, behind)
		require.Equal(t, 0, testutil.CollectAndCount(filtered{reg, "done"}), "a group that handled everything is reported")
		var left int
		require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM bus_messages WHERE topic = $1`, topic).Scan(&left))
		require.Zero(t, left)
		require.Equal(t, 10.0, testutil.ToFloat64(counterOf(t, reg, sqlbus.MetricPublished, topic, "")))
	})
}

// counterOf returns the metric name's series for topic (and group when not empty).
func counterOf(t *testing.T, reg *prometheus.Registry, name, topic, group string) prometheus.Collector {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["topic"] == topic && (group == "" || labels["group"] == group) {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "v"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no %s{topic=%q,group=%q}", name, topic, group)
	return nil
}

// filtered collects the behind-retention series of one group.
type filtered struct {
	reg   *prometheus.Registry
	group string
}

func (f filtered) Describe(chan<- *prometheus.Desc) {}

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	families, _ := f.reg.Gather()
	for _, fam := range families {
		if fam.GetName() != sqlbus.MetricBehindRetention {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" && l.GetValue() == f.group {
					ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("v", "", nil, nil), prometheus.CounterValue, m.GetCounter().GetValue())
				}
			}
		}
	}
}

// TestPublishBatchAcrossTopics: a batch of messages of two topics is stored in one
// transaction and delivered on each topic in order.
func TestPublishBatchAcrossTopics(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		t1, t2 := "a-"+watermill.NewShortUUID(), "b-"+watermill.NewShortUUID()
		var batch []eventsvc.Outgoing
		for i := range 6 {
			m := message.NewMessage(fmt.Sprintf("m-%d", i), nil)
			m.Metadata.Set(eventsvc.MetaKeyHeader, "k")
			batch = append(batch, eventsvc.Outgoing{Topic: []string{t1, t2}[i%2], Message: m})
		}
		require.NoError(t, b.PublishBatch(t.Context(), batch))
		for ti, topic := range []string{t1, t2} {
			sub, err := b.Subscriber("g")
			require.NoError(t, err)
			ch, err := sub.Subscribe(t.Context(), topic)
			require.NoError(t, err)
			for i := ti; i < 6; i += 2 {
				select {
				case m := <-ch:
					require.Equal(t, fmt.Sprintf("m-%d", i), m.UUID)
					m.Ack()
				case <-time.After(wait):
					t.Fatalf("message m-%d of %s not delivered", i, topic)
				}
			}
			require.NoError(t, sub.Close())
		}
	})
}
