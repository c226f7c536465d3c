package sqlbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// slack is what the tests allow beyond sqlbus.MarkBound for the reader's loop and the
// database on a busy machine under the race detector.
const slack = 750 * time.Millisecond

// mark is a row of bus_marks.
type mark struct {
	acked, prev int64
	at          time.Time
}

// marksOf returns group's marks of topic, by partition and watermark.
func marksOf(t *testing.T, db *database.DB, group, topic string) map[int][]mark {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT part, acked, prev, at FROM bus_marks WHERE grp = $1 AND topic = $2 ORDER BY part, acked`, group, topic)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int][]mark{}
	for rows.Next() {
		var p int
		var m mark
		var at int64
		require.NoError(t, rows.Scan(&p, &m.acked, &m.prev, &at))
		m.at = time.Unix(0, at)
		out[p] = append(out[p], m)
	}
	require.NoError(t, rows.Err())
	return out
}

// acker subscribes group to topic and acknowledges every message, noting when.
type acker struct {
	mu    sync.Mutex
	acked map[string]time.Time // by uuid: just before its Ack
}

func subscribeAcker(t *testing.T, b *sqlbus.Bus, group, topic string) *acker {
	t.Helper()
	sub, err := b.Subscriber(group)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), topic)
	require.NoError(t, err)
	a := &acker{acked: map[string]time.Time{}}
	go func() {
		for m := range ch {
			a.mu.Lock()
			a.acked[m.UUID] = time.Now()
			a.mu.Unlock()
			m.Ack()
		}
	}()
	return a
}

// ackedAt returns when message id was acknowledged, and whether it was.
func (a *acker) ackedAt(id string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.acked[id]
	return at, ok
}

// handledBy waits until group's handling of seq has a time, and returns it.
func handledBy(t *testing.T, h *sqlbus.History, group string, seq int64) time.Time {
	t.Helper()
	var by time.Time
	require.Eventually(t, func() bool {
		hs, err := h.Handling(t.Context(), seq)
		require.NoError(t, err)
		for _, hd := range hs {
			if hd.Group == group && hd.State == sqlbus.StateHandled {
				by = hd.HandledBy
			}
		}
		return !by.IsZero()
	}, wait, 10*time.Millisecond, "message %d marked handled by %s", seq, group)
	return by
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// publishKeyed publishes message id on topic with key k.
func publishKeyed(t *testing.T, b *sqlbus.Bus, topic, id, key string) {
	t.Helper()
	m := message.NewMessage(id, []byte("x"))
	m.Metadata.Set(eventsvc.MetaKeyHeader, key)
	require.NoError(t, b.Publish(topic, m))
}

// TestHandledAtMarks: a subscriber's handling is marked — Handling reports each message
// handled by a time at or after it was acknowledged and at most MarkBound (plus slack) after
// — at most about once a second per partition however often the offsets move, and the last
// move before a quiet spell is marked too, by the reader's own timer: the configuration polls
// and renews the leases a minute apart, so nothing else wakes it.
func TestHandledAtMarks(t *testing.T) {
	tests := []struct {
		name string
		n    int           // messages, of one key
		gap  time.Duration // between publishes
		// settle: publish the next message only once the previous one is marked, so that its
		// move comes within a second of that mark and must wait for the timer.
		settle bool
		// wantMarks: how many marks; 0 for as the rate allows, one a second of the stream and
		// the last.
		wantMarks int
		minApart  time.Duration // between consecutive marks
	}{
		// 2.5 s or more (the publishes' commits take their time) of a message every 10 ms:
		// an offset record every 20 ms, a mark a second.
		{name: "a stream", n: 250, gap: 10 * time.Millisecond, minApart: time.Second},
		{name: "a quiet spell after a mark", n: 2, settle: true, wantMarks: 2, minApart: time.Second},
		// More than a second apart: each move is marked when it is recorded.
		{name: "sparse", n: 3, gap: 1500 * time.Millisecond, wantMarks: 3},
	}
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, quietConfig())
		h := sqlbus.NewHistory(db)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				topic, group := "marks-"+watermill.NewShortUUID(), "marker"
				a := subscribeAcker(t, b, group, topic)
				ids := make([]string, tt.n)
				start := time.Now()
				for i := range ids {
					ids[i] = fmt.Sprintf("m-%d", i)
					publishKeyed(t, b, topic, ids[i], "one-key")
					if tt.settle {
						handledBy(t, h, group, seqOf(t, db, topic, ids[i]))
					} else {
						time.Sleep(tt.gap)
					}
				}
				for _, id := range ids {
					seq := seqOf(t, db, topic, id)
					by := handledBy(t, h, group, seq)
					acked, ok := a.ackedAt(id)
					require.True(t, ok, "%s acknowledged", id)
					require.False(t, by.Before(acked), "%s: handled by %s, acknowledged %s later", id, by, acked.Sub(by))
					require.LessOrEqual(t, by.Sub(acked), sqlbus.MarkBound+slack, "%s: marked within the bound", id)
				}
				var last time.Time
				for _, id := range ids {
					acked, _ := a.ackedAt(id)
					last = later(last, acked)
				}
				stream := last.Sub(start)

				marks := marksOf(t, db, group, topic)
				require.Len(t, marks, 1, "one key, one partition")
				for _, ms := range marks {
					if tt.wantMarks > 0 {
						require.Len(t, ms, tt.wantMarks)
					} else {
						require.GreaterOrEqual(t, len(ms), 2)
						require.LessOrEqual(t, len(ms), int(stream/time.Second)+2, "at most one a second of the %s stream, and the last", stream)
						require.Less(t, len(ms), tt.n/20, "far fewer than the offset records")
					}
					require.Zero(t, ms[0].prev, "the chain starts where the group started")
					for i := 1; i < len(ms); i++ {
						require.Equal(t, ms[i-1].acked, ms[i].prev, "each mark starts where the previous ended")
						require.GreaterOrEqual(t, ms[i].at.Sub(ms[i-1].at), tt.minApart)
					}
					require.Equal(t, seqOf(t, db, topic, ids[len(ids)-1]), ms[len(ms)-1].acked, "the last move is marked")
				}
			})
		}
	})
}

// TestHandledAtMarksAtShutdown: closing a subscriber marks what it had not marked yet, at
// once rather than after the rate limit's second.
func TestHandledAtMarksAtShutdown(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, quietConfig())
		h := sqlbus.NewHistory(db)
		topic := "marks-" + watermill.NewShortUUID()
		sub, err := b.Subscriber("closing")
		require.NoError(t, err)
		ch, err := sub.Subscribe(t.Context(), topic)
		require.NoError(t, err)
		ack := func() {
			select {
			case m := <-ch:
				m.Ack()
			case <-time.After(wait):
				t.Fatal("not delivered")
			}
		}
		publishKeyed(t, b, topic, "first", "k")
		ack()
		handledBy(t, h, "closing", seqOf(t, db, topic, "first"))
		publishKeyed(t, b, topic, "second", "k")
		ack()
		require.Eventually(t, func() bool { return unrecorded(t, db, "closing", topic) == 0 }, wait, time.Millisecond)
		closed := time.Now()
		require.NoError(t, sub.Close())
		by := handledBy(t, h, "closing", seqOf(t, db, topic, "second"))
		require.Less(t, by.Sub(closed), 500*time.Millisecond, "marked by the shutdown, not a second after the first mark")
	})
}

// TestPurgeMarks: the purge deletes the marks no stored message needs — those older than the
// retention among them — and keeps those of the messages left, whose times still read.
func TestPurgeMarks(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		b := startBus(t, db, cfg)
		h := sqlbus.NewHistory(db)
		topic, group := "purge-"+watermill.NewShortUUID(), "marker"
		subscribeAcker(t, b, group, topic)
		publishBatch := func(prefix string) []int64 {
			var seqs []int64
			for i := range 20 {
				id := fmt.Sprintf("%s-%d", prefix, i)
				publishKeyed(t, b, topic, id, fmt.Sprintf("k%d", i%2)) // two partitions, at most
				seqs = append(seqs, seqOf(t, db, topic, id))
			}
			for _, seq := range seqs {
				handledBy(t, h, group, seq)
			}
			return seqs
		}
		count := func() (n int) {
			require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM bus_marks WHERE topic = $1`, topic).Scan(&n))
			return n
		}

		publishBatch("old")
		oldMarks := count()
		time.Sleep(10 * time.Millisecond)
		cutoff := time.Now() // the old messages and all their marks are older
		time.Sleep(10 * time.Millisecond)
		young := publishBatch("young")
		before := count()
		require.Greater(t, before, oldMarks)

		tests := []struct {
			name      string
			now       time.Time
			wantLeft  int
			wantTimes bool // the young messages' times still read
		}{
			{"the old messages", cutoff.Add(cfg.Retention), before - oldMarks, true},
			{"everything", time.Now().Add(cfg.Retention + time.Minute), 0, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b.SetClock(func() time.Time { return tt.now })
				require.NoError(t, b.Purge(context.Background()))
				require.Equal(t, tt.wantLeft, count(), "the marks of the messages left, of %d (%d of the old messages)", before, oldMarks)
				var older int
				require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM bus_marks WHERE topic = $1 AND at < $2`,
					topic, tt.now.Add(-cfg.Retention).UnixNano()).Scan(&older))
				require.Zero(t, older, "no mark older than the retention")
				if tt.wantTimes {
					for _, seq := range young {
						handledBy(t, h, group, seq)
					}
				}
			})
		}
	})
}
