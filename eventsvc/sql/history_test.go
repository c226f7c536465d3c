package sqlbus_test

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// eventTime is the event time of the history's messages that carry one.
var eventTime = time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)

// historyMessage is a message as the events service publishes it: with the bus's key and time
// and the event's metadata. An empty key leaves both out (the time falls back to storage).
func historyMessage(id, key string, payload []byte) *message.Message {
	m := message.NewMessage(id, payload)
	m.Metadata.Set("x-github-event", "push")
	if key != "" {
		m.Metadata.Set(eventsvc.MetaKeyHeader, key)
		m.Metadata.Set(eventsvc.MetaTimeHeader, strconv.FormatInt(eventTime.UnixNano(), 10))
	}
	return m
}

// seqOf returns the sequence number of topic's message id.
func seqOf(t *testing.T, db *database.DB, topic, id string) int64 {
	t.Helper()
	var seq int64
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT seq FROM bus_messages WHERE topic = $1 AND uuid = $2`, topic, id).Scan(&seq))
	return seq
}

// ids returns the entries' ids, in order.
func ids(es []sqlbus.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// historyFixture is what TestHistory publishes.
type historyFixture struct {
	alpha      []string // ids on alpha (keys k0…k11: several partitions), in order
	beta       []string // ids on beta, without key or time
	compressed []byte   // the webhook's payload, on gamma and gamma.push (id d-1)
	small      []byte   // payload of beta's messages
}

func publishHistory(t *testing.T, b *sqlbus.Bus) historyFixture {
	t.Helper()
	f := historyFixture{
		compressed: []byte(`{"commits":[` + strings.Repeat(`{"message":"fix the build","added":["a.go"]},`, 40) + `{}]}`),
		small:      []byte(`{"zen":"Keep it logically awesome."}`),
	}
	var batch []eventsvc.Outgoing
	for i := range 12 {
		id := fmt.Sprintf("a-%d", i)
		f.alpha = append(f.alpha, id)
		batch = append(batch, eventsvc.Outgoing{Topic: "alpha", Message: historyMessage(id, fmt.Sprintf("k%d", i), []byte(`{}`))})
	}
	require.NoError(t, b.PublishBatch(t.Context(), batch))
	for i := range 3 {
		id := fmt.Sprintf("b-%d", i)
		f.beta = append(f.beta, id)
		require.NoError(t, b.Publish("beta", historyMessage(id, "", f.small)))
	}
	// A webhook: the event and its sub-topic event, same id and payload (shared on SQLite).
	require.NoError(t, b.PublishBatch(t.Context(), []eventsvc.Outgoing{
		{Topic: "gamma", Message: historyMessage("d-1", "repo", f.compressed)},
		{Topic: "gamma.push", Message: historyMessage("d-1", "repo", f.compressed)},
	}))
	return f
}

// TestHistory: every History method on SQLite and PostgreSQL, over messages of several topics
// and partitions, a shared and compressed payload, groups ahead of and behind a message.
func TestHistory(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		h := sqlbus.NewHistory(db)
		ctx := t.Context()

		last, err := h.Last(ctx)
		require.NoError(t, err)
		require.Zero(t, last, "an empty history")
		topics, err := h.Topics(ctx)
		require.NoError(t, err)
		require.Empty(t, topics)

		f := publishHistory(t, b)
		var max int64
		require.NoError(t, db.QueryRowContext(ctx, `SELECT MAX(seq) FROM bus_messages`).Scan(&max))

		t.Run("Last and Topics", func(t *testing.T) {
			last, err := h.Last(ctx)
			require.NoError(t, err)
			require.Equal(t, max, last)
			topics, err := h.Topics(ctx)
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"alpha", "beta", "gamma", "gamma.push"}, topics)
			var parts int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT part) FROM bus_messages WHERE topic = 'alpha'`).Scan(&parts))
			require.Greater(t, parts, 2, "alpha spans several partitions, listed once")
		})

		t.Run("entries", func(t *testing.T) {
			es, err := h.Recent(ctx, "alpha", 0, 1)
			require.NoError(t, err)
			require.Len(t, es, 1)
			var part int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT part FROM bus_messages WHERE uuid = 'a-11'`).Scan(&part))
			require.Equal(t, sqlbus.Entry{Seq: seqOf(t, db, "alpha", "a-11"), Topic: "alpha", Partition: part, ID: "a-11", Key: "k11",
				Time: eventTime, Metadata: map[string]string{"x-github-event": "push"}}, es[0], "key and time from the bus's metadata, which is left out")
			es, err = h.Recent(ctx, "beta", 0, 1)
			require.NoError(t, err)
			require.Len(t, es, 1)
			require.Empty(t, es[0].Key)
			require.WithinDuration(t, time.Now(), es[0].Time, time.Minute, "no event time: when it was stored")
			require.Equal(t, map[string]string{"x-github-event": "push"}, es[0].Metadata)
		})

		t.Run("Recent", func(t *testing.T) {
			reversed := func(s []string) []string {
				out := make([]string, len(s))
				for i, v := range s {
					out[len(s)-1-i] = v
				}
				return out
			}
			tests := []struct {
				name   string
				topic  string
				before int64
				limit  int
				want   []string
			}{
				{"newest of all", "", 0, 4, []string{"d-1", "d-1", "b-2", "b-1"}},
				{"all before", "", seqOf(t, db, "beta", "b-0"), 2, []string{"a-11", "a-10"}},
				{"a topic across partitions", "alpha", 0, 100, reversed(f.alpha)},
				{"a topic, limited", "alpha", 0, 3, []string{"a-11", "a-10", "a-9"}},
				{"a topic before", "alpha", seqOf(t, db, "alpha", "a-5"), 0, []string{"a-4", "a-3", "a-2", "a-1", "a-0"}},
				{"a sub-topic", "gamma.push", 0, 0, []string{"d-1"}},
				{"no such topic", "delta", 0, 0, []string{}},
				{"before the first", "", 1, 0, []string{}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					es, err := h.Recent(ctx, tt.topic, tt.before, tt.limit)
					require.NoError(t, err)
					require.Equal(t, tt.want, ids(es))
					for i := 1; i < len(es); i++ {
						require.Greater(t, es[i-1].Seq, es[i].Seq, "newest first")
					}
				})
			}
		})

		t.Run("After", func(t *testing.T) {
			tests := []struct {
				name  string
				after int64
				limit int
				want  []string
			}{
				{"the tail", max - 3, 0, []string{"b-2", "d-1", "d-1"}},
				{"limited", seqOf(t, db, "alpha", "a-9"), 2, []string{"a-10", "a-11"}},
				{"nothing new", max, 0, []string{}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					es, err := h.After(ctx, tt.after, tt.limit)
					require.NoError(t, err)
					require.Equal(t, tt.want, ids(es))
				})
			}
		})

		t.Run("Get", func(t *testing.T) {
			sub := seqOf(t, db, "gamma.push", "d-1")
			var codec int
			var shared bool
			require.NoError(t, db.QueryRowContext(ctx, `SELECT codec, payload_of IS NOT NULL FROM bus_messages WHERE seq = $1`, sub).Scan(&codec, &shared))
			if db.Dialect() == database.SQLite {
				require.True(t, shared, "on SQLite the sub-topic event refers to the event's payload")
			} else {
				require.Equal(t, 1, codec, "on PostgreSQL it has a compressed copy")
			}
			tests := []struct {
				name    string
				seq     int64
				topic   string
				payload []byte
			}{
				{"compressed", seqOf(t, db, "gamma", "d-1"), "gamma", f.compressed},
				{"shared", sub, "gamma.push", f.compressed},
				{"as it is", seqOf(t, db, "beta", "b-1"), "beta", f.small},
				{"tiny", seqOf(t, db, "alpha", "a-3"), "alpha", []byte(`{}`)},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					m, err := h.Get(ctx, tt.seq)
					require.NoError(t, err)
					require.Equal(t, tt.seq, m.Seq)
					require.Equal(t, tt.topic, m.Topic)
					require.Equal(t, string(tt.payload), string(m.Payload))
					require.Equal(t, map[string]string{"x-github-event": "push"}, m.Metadata)
				})
			}
			_, err := h.Get(ctx, max+1000)
			require.ErrorIs(t, err, sqlbus.ErrNotFound)
		})

		t.Run("Handling", func(t *testing.T) {
			seq := seqOf(t, db, "alpha", "a-6")
			now := time.Now()
			for _, o := range []struct {
				group string
				acked int64
			}{{"ahead", seq}, {"behind", seq - 1}, {sqlbus.RelayGroup, 0}} {
				for p := range sqlbus.Partitions {
					_, err := db.ExecContext(ctx, `INSERT INTO bus_offsets (grp, topic, part, acked) VALUES ($1, 'alpha', $2, $3)`, o.group, p, o.acked)
					require.NoError(t, err)
				}
			}
			_, err := db.ExecContext(ctx, `INSERT INTO bus_members (grp, topic, owner, seen_until) VALUES
				('ahead', 'alpha', 'i-1', $1), ('behind', 'alpha', 'i-2', $2), ('behind', 'beta', 'i-2', $1)`,
				now.Add(time.Minute).UnixNano(), now.Add(-time.Minute).UnixNano())
			require.NoError(t, err)
			// ahead's marks, on every partition: a chain begun at a-2 (passed before it, at a
			// time not recorded), a-3…a-4 passed by first, a-5…a-6 by second; behind has none.
			first, second := eventTime.Add(time.Second), eventTime.Add(3*time.Second)
			for p := range sqlbus.Partitions {
				for _, m := range []struct {
					acked, prev int64
					at          time.Time
				}{{seqOf(t, db, "alpha", "a-4"), seqOf(t, db, "alpha", "a-2"), first}, {seq, seqOf(t, db, "alpha", "a-4"), second}} {
					_, err := db.ExecContext(ctx, `INSERT INTO bus_marks (grp, topic, part, acked, prev, at) VALUES ('ahead', 'alpha', $1, $2, $3, $4)`,
						p, m.acked, m.prev, m.at.UnixNano())
					require.NoError(t, err)
				}
			}

			tests := []struct {
				name     string
				seq      int64
				declared []string
				want     []sqlbus.Handling
			}{
				{"handled and pending", seq, nil, []sqlbus.Handling{
					{Group: "ahead", State: sqlbus.StateHandled, HandledBy: second, Active: true},
					{Group: "behind", State: sqlbus.StatePending},
				}},
				{"declared subscriptions", seq, []string{"ahead", "new", "new"}, []sqlbus.Handling{
					{Group: "ahead", State: sqlbus.StateHandled, HandledBy: second, Active: true},
					{Group: "behind", State: sqlbus.StatePending},
					{Group: "new", State: sqlbus.StateNotStarted},
				}},
				{"the first mark's last message", seqOf(t, db, "alpha", "a-4"), nil, []sqlbus.Handling{
					{Group: "ahead", State: sqlbus.StateHandled, HandledBy: first, Active: true},
					{Group: "behind", State: sqlbus.StateHandled},
				}},
				{"the first mark's first message", seqOf(t, db, "alpha", "a-3"), nil, []sqlbus.Handling{
					{Group: "ahead", State: sqlbus.StateHandled, HandledBy: first, Active: true},
					{Group: "behind", State: sqlbus.StateHandled},
				}},
				{"the second mark's first message", seqOf(t, db, "alpha", "a-5"), nil, []sqlbus.Handling{
					{Group: "ahead", State: sqlbus.StateHandled, HandledBy: second, Active: true},
					{Group: "behind", State: sqlbus.StateHandled},
				}},
				{"passed before the marks began", seqOf(t, db, "alpha", "a-2"), nil, []sqlbus.Handling{
					{Group: "ahead", State: sqlbus.StateHandled, Active: true},
					{Group: "behind", State: sqlbus.StateHandled},
				}},
				{"a topic no group reads", seqOf(t, db, "gamma", "d-1"), nil, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := h.Handling(ctx, tt.seq, tt.declared...)
					require.NoError(t, err)
					require.Equal(t, tt.want, got)
				})
			}
			_, err = h.Handling(ctx, max+1000)
			require.ErrorIs(t, err, sqlbus.ErrNotFound)
		})

		t.Run("Handling a live subscription", func(t *testing.T) {
			sub, err := b.Subscriber("live")
			require.NoError(t, err)
			ch, err := sub.Subscribe(ctx, "beta")
			require.NoError(t, err)
			for range f.beta {
				select {
				case m := <-ch:
					m.Ack()
				case <-time.After(wait):
					t.Fatal("beta's messages were not delivered")
				}
			}
			handled := time.Now()
			require.Eventually(t, func() bool { return unrecorded(t, db, "live", "beta") == 0 }, wait, 10*time.Millisecond)
			var got []sqlbus.Handling
			require.Eventually(t, func() bool {
				got, err = h.Handling(ctx, seqOf(t, db, "beta", "b-2"))
				require.NoError(t, err)
				return len(got) == 1 && !got[0].HandledBy.IsZero()
			}, wait, 10*time.Millisecond, "marked")
			m, err := h.Get(ctx, seqOf(t, db, "beta", "b-2"))
			require.NoError(t, err)
			require.False(t, got[0].HandledBy.Before(m.Time), "handled after it was stored")
			require.False(t, got[0].HandledBy.After(handled.Add(sqlbus.MarkBound+slack)), "within the bound of its handling")
			got[0].HandledBy = time.Time{}
			require.Equal(t, []sqlbus.Handling{{Group: "live", State: sqlbus.StateHandled, Active: true}}, got)
			require.NoError(t, sub.Close())
			require.Eventually(t, func() bool {
				got, err := h.Handling(ctx, seqOf(t, db, "beta", "b-2"))
				require.NoError(t, err)
				return len(got) == 1 && !got[0].Active && got[0].State == sqlbus.StateHandled
			}, wait, 10*time.Millisecond, "the member left")
		})

		t.Run("Lag", func(t *testing.T) {
			// 10 002 messages of one key: one partition beyond the cap.
			batch := make([]eventsvc.Outgoing, sqlbus.LagCap+1)
			for i := range batch {
				batch[i] = eventsvc.Outgoing{Topic: "flood", Message: historyMessage(fmt.Sprintf("f-%d", i), "one-key", nil)}
			}
			require.NoError(t, b.PublishBatch(ctx, batch))
			for p := range sqlbus.Partitions {
				_, err := db.ExecContext(ctx, `INSERT INTO bus_offsets (grp, topic, part, acked) VALUES ('ahead', 'flood', $1, 0)`, p)
				require.NoError(t, err)
			}
			var behindOldest, floodOldest int64
			require.NoError(t, db.QueryRowContext(ctx, `SELECT created_at FROM bus_messages WHERE uuid = 'a-6'`).Scan(&behindOldest))
			require.NoError(t, db.QueryRowContext(ctx, `SELECT created_at FROM bus_messages WHERE uuid = 'f-0'`).Scan(&floodOldest))

			got, err := h.Lag(ctx)
			require.NoError(t, err)
			require.Equal(t, []sqlbus.Lag{
				{Group: "ahead", Topic: "alpha", Pending: int64(unrecorded(t, db, "ahead", "alpha")), Oldest: time.Unix(0, behindOldest).UTC()},
				{Group: "ahead", Topic: "flood", Pending: sqlbus.LagCap, Capped: true, Oldest: time.Unix(0, floodOldest).UTC()},
				{Group: "behind", Topic: "alpha", Pending: int64(unrecorded(t, db, "behind", "alpha")), Oldest: time.Unix(0, behindOldest).UTC()},
				{Group: "live", Topic: "beta"},
			}, got)
			require.EqualValues(t, 5, got[0].Pending, "a-7…a-11")
			require.EqualValues(t, 6, got[2].Pending, "a-6…a-11")
		})

		t.Run("FindID", func(t *testing.T) {
			for range 3 { // an id published three times (no delivery id to deduplicate)
				require.NoError(t, b.Publish("beta", historyMessage("again", "", f.small)))
			}
			last, err := h.Last(ctx)
			require.NoError(t, err)
			tests := []struct {
				name        string
				id          string
				limit       int
				want        []string
				wantTopics  []string
				wantBounded bool
			}{
				{"a webhook's events", "d-1", 0, []string{"d-1", "d-1"}, []string{"gamma.push", "gamma"}, false},
				{"the oldest message", "a-0", 10, []string{"a-0"}, []string{"alpha"}, false},
				{"a miss", "no-such-id", 0, []string{}, []string{}, false},
				{"limited", "again", 2, []string{"again", "again"}, []string{"beta", "beta"}, true},
				{"no id", "", 0, []string{}, []string{}, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					found, bounded, err := h.FindID(ctx, tt.id, tt.limit)
					require.NoError(t, err)
					require.Equal(t, tt.want, ids(found))
					topics := make([]string, len(found))
					for i, e := range found {
						topics[i] = e.Topic
					}
					require.Equal(t, tt.wantTopics, topics)
					require.Equal(t, tt.wantBounded, bounded)
				})
			}

			// A message FindIDWindow sequence numbers later: the webhook is beyond the window.
			_, err = db.ExecContext(ctx, `INSERT INTO bus_messages (seq, topic, part, uuid, payload, metadata, created_at) VALUES ($1, 'beta', 0, 'far', $2, '{}', $3)`,
				last+sqlbus.FindIDWindow, []byte{}, time.Now().UnixNano())
			require.NoError(t, err)
			found, bounded, err := h.FindID(ctx, "d-1", 0)
			require.NoError(t, err)
			require.Empty(t, found)
			require.True(t, bounded, "older messages were not searched")
			found, bounded, err = h.FindID(ctx, "far", 0)
			require.NoError(t, err)
			require.Equal(t, []string{"far"}, ids(found))
			require.True(t, bounded)
		})
	})
}

// TestMarkDeadLettered: a dead letter marks its group's handling, or adds the group.
func TestMarkDeadLettered(t *testing.T) {
	t.Parallel()
	d := sqlbus.DeadLettered{ID: "dl-1", Error: "boom", Attempts: 5, FailedAt: eventTime}
	tests := []struct {
		name  string
		hs    []sqlbus.Handling
		group string
		want  []sqlbus.Handling
	}{
		{"a group that passed it", []sqlbus.Handling{{Group: "a", State: sqlbus.StateHandled, Active: true}, {Group: "b", State: sqlbus.StatePending}}, "a",
			[]sqlbus.Handling{{Group: "a", State: sqlbus.StateDeadLettered, Active: true, DeadLetter: &d}, {Group: "b", State: sqlbus.StatePending}}},
		{"a group without offsets", []sqlbus.Handling{{Group: "a", State: sqlbus.StateHandled}}, "k",
			[]sqlbus.Handling{{Group: "a", State: sqlbus.StateHandled}, {Group: "k", State: sqlbus.StateDeadLettered, DeadLetter: &d}}},
		{"nothing else", nil, "k", []sqlbus.Handling{{Group: "k", State: sqlbus.StateDeadLettered, DeadLetter: &d}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, sqlbus.MarkDeadLettered(tt.hs, tt.group, d))
		})
	}
}

// TestHistoryInFx: the module provides the history whatever the bus — here with no bus at
// all, as when events.bus is kafka and the outbox writes the tables — because it migrates
// the bus tables whenever it is in the application.
func TestHistoryInFx(t *testing.T) {
	t.Parallel()
	var h *sqlbus.History
	var db *database.DB
	app := fxtest.New(t,
		fx.Supply(configtest.Tree(t, "backend:\n  database:\n    connection: ':memory:'\n")),
		config.Module, fx.Supply(zerolog.Nop()), database.Module, sqlbus.Module,
		fx.Populate(&h, &db),
	)
	app.RequireStart()
	defer app.RequireStop()
	last, err := h.Last(t.Context())
	require.NoError(t, err)
	require.Zero(t, last)
	payload := make([]byte, 64)
	_, _ = rand.Read(payload)
	_, err = db.ExecContext(t.Context(), `INSERT INTO bus_messages (topic, part, uuid, payload, metadata, created_at) VALUES ('catalog', 3, 'c-1', $1, 'null', 1)`, payload)
	require.NoError(t, err)
	m, err := h.Get(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, sqlbus.Message{Entry: sqlbus.Entry{Seq: 1, Topic: "catalog", Partition: 3, ID: "c-1", Time: time.Unix(0, 1).UTC(), Metadata: map[string]string{}}, Payload: payload}, m)
}
