package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/subscribers/audit"
)

// holdAppends takes the lock every append needs (SQLite's write lock, PostgreSQL's advisory
// lock) on a second connection, so that the writer's commit waits; release lets it go.
func holdAppends(t *testing.T, db *database.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	other := reopen(t, db)
	if db.Dialect() == database.Postgres {
		conn, err := other.Conn(ctx)
		require.NoError(t, err)
		_, err = conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(audit.AppendLock))
		require.NoError(t, err)
		return func() {
			_, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(audit.AppendLock))
			require.NoError(t, err)
			require.NoError(t, conn.Close())
		}
	}
	tx, err := other.BeginTx(ctx, nil) // immediate: takes the write lock now
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `SELECT count(*) FROM audit_log`)
	require.NoError(t, err)
	return func() { require.NoError(t, tx.Rollback()) }
}

// denial is a refused request's record as auth publishes it.
func denial(id int, ip, reason string) eventsvc.Event {
	rec := audit.Record{Plugin: "auth", EventID: "authenticate", SeverityLevel: "low", Status: "failed", Error: reason,
		Actor: audit.Actor{IP: ip}, Meta: map[string]any{"reason": reason}, Timestamp: base.Add(time.Duration(id) * time.Second)}
	payload, _ := json.Marshal(rec)
	return eventsvc.Event{ID: fmt.Sprintf("denial-%d", id), Topic: audit.Topic, Payload: payload}
}

func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// aggregateRow is what the test reads back of an aggregate row.
type aggregateRow struct {
	eventID, ip, reason string
	count               int64
}

func readLog(t *testing.T, db *database.DB) (records []string, aggs []aggregateRow) {
	t.Helper()
	page, err := audit.NewStore(db, zerolog.Nop()).List(context.Background(), audit.Filter{Limit: 500})
	require.NoError(t, err)
	for _, e := range page.Items {
		if e.Meta["aggregate"] == true {
			aggs = append(aggs, aggregateRow{e.EventID, e.Meta["ip"].(string), e.Meta["reason"].(string), int64(e.Meta["count"].(float64))})
			continue
		}
		records = append(records, e.MessageID)
	}
	return records, aggs
}

// TestWriterAggregatesBeyondTheBatch: while a commit waits, MaxBatch records queue
// individually and further denials are counted per (event, reason, address); the key table
// widens to (event, reason, any address) and then to one overflow key when full. Nothing
// is dropped: every Publish returns after the commit, and the counts add up.
func TestWriterAggregatesBeyondTheBatch(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, audit.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		bus := &eventsvctest.Recorder{}
		w, err := audit.NewWriter(audit.NewStore(db, zerolog.Nop()), zerolog.Nop(),
			audit.WriterOptions{MaxBatch: 10, MaxAggregates: 3, Bus: bus, Registerer: reg})
		require.NoError(t, err)
		require.NoError(t, w.Start(ctx))
		t.Cleanup(func() { require.NoError(t, w.Stop(ctx)) })

		release := holdAppends(t, db)
		results := make(chan error, 100)
		submit := func(e eventsvc.Event, queued int64) {
			go func() { results <- w.Publish(ctx, e) }()
			require.Eventually(t, func() bool { return w.Queued() == queued }, 10*time.Second, time.Millisecond)
		}
		go func() { results <- w.Publish(ctx, denial(0, "192.0.2.1", "missing credentials")) }()
		// The first record's commit is under way (and waits): the next batch fills.
		require.Eventually(t, func() bool { return w.Committing() == 1 }, 10*time.Second, time.Millisecond)

		var plan []eventsvc.Event
		id := 1
		add := func(n int, ip func(i int) string, reason string) {
			for i := range n {
				plan = append(plan, denial(id, ip(i), reason))
				id++
			}
		}
		same := func(ip string) func(int) string { return func(int) string { return ip } }
		distinct := func(prefix string) func(int) string {
			return func(i int) string { return fmt.Sprintf("%s%d", prefix, i) }
		}
		add(10, distinct("198.51.100."), "missing credentials") // the batch's 10 records
		add(10, same("203.0.113.1"), "missing credentials")     // key 1
		add(5, same("203.0.113.2"), "missing credentials")      // key 2
		add(5, same("203.0.113.3"), "invalid token")            // key 3: the table is full
		add(10, distinct("203.0.113.1"), "missing credentials") // widened: (missing credentials, *)
		add(5, distinct("203.0.113.2"), "invalid token")        // no room left: the overflow key
		add(5, same("203.0.113.1"), "missing credentials")      // key 1 again
		for i, e := range plan {
			submit(e, int64(i+1))
		}
		succeeded, _ := json.Marshal(audit.Record{EventID: "token-issue", Status: "succeeded", Actor: audit.Actor{ActorID: "user:default/bob"}})
		go func() {
			results <- w.Publish(ctx, eventsvc.Event{ID: "issued", Topic: audit.Topic, Payload: succeeded})
		}()
		require.Eventually(t, func() bool { return w.Queued() == int64(len(plan)+1) }, 10*time.Second, time.Millisecond)
		release()
		for range len(plan) + 2 {
			require.NoError(t, <-results)
		}

		records, aggs := readLog(t, db)
		require.Len(t, records, 1+10+1, "the first record, a full batch, and the record that is not a denial")
		require.ElementsMatch(t, []aggregateRow{
			{"authenticate", "203.0.113.1", "missing credentials", 15},
			{"authenticate", "203.0.113.2", "missing credentials", 5},
			{"authenticate", "203.0.113.3", "invalid token", 5},
			{"authenticate", "*", "missing credentials", 10},
			{"audit-overflow", "*", "*", 5},
		}, aggs)
		res, err := audit.Verify(ctx, db)
		require.NoError(t, err)
		require.Equal(t, audit.VerifyResult{OK: true, Checked: 17}, res)
		page, err := audit.NewStore(db, zerolog.Nop()).List(ctx, audit.Filter{Actor: "", Limit: 500})
		require.NoError(t, err)
		var texts []string
		for _, e := range page.Items {
			if e.Meta["aggregate"] == true && e.Actor.IP == "203.0.113.2" {
				texts = append(texts, e.Error)
			}
		}
		require.Equal(t, []string{"5 more denials, reason missing credentials, from address 203.0.113.2, between 2026-05-01T12:00:21Z and 2026-05-01T12:00:25Z"}, texts)

		require.EqualValues(t, 40, metric(t, reg, "stagebus_audit_records_aggregated_total"))
		require.EqualValues(t, 12, metric(t, reg, "stagebus_audit_rows_written_total", "kind", "record"))
		require.EqualValues(t, 5, metric(t, reg, "stagebus_audit_rows_written_total", "kind", "aggregate"))
		require.EqualValues(t, 0, metric(t, reg, "stagebus_audit_unconfirmed_total"))
		require.Len(t, bus.Published(audit.Topic), 17, "every committed row is published")
	})
}

// TestWriterCommitTimeout: a caller stops waiting after the commit timeout with
// ErrNotCommitted (counted); the record stays queued and is written once the database
// answers.
func TestWriterCommitTimeout(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, audit.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		w, err := audit.NewWriter(audit.NewStore(db, zerolog.Nop()), zerolog.Nop(),
			audit.WriterOptions{CommitTimeout: 20 * time.Millisecond, Registerer: reg})
		require.NoError(t, err)
		require.NoError(t, w.Start(ctx))
		release := holdAppends(t, db)
		require.ErrorIs(t, w.Publish(ctx, denial(1, "192.0.2.1", "missing credentials")), audit.ErrNotCommitted)
		require.EqualValues(t, 1, metric(t, reg, "stagebus_audit_unconfirmed_total"))
		release()
		require.NoError(t, w.Stop(ctx), "stop waits for the queued record's commit")
		records, _ := readLog(t, db)
		require.Equal(t, []string{"denial-1"}, records)
	})
}

// TestWriterRefusesBadEvents: an event that is not an audit record is an error at once.
func TestWriterRefusesBadEvents(t *testing.T) {
	t.Parallel()
	db := databasetest.SQLite(t, audit.Migrations)
	w, err := audit.NewWriter(audit.NewStore(db, zerolog.Nop()), zerolog.Nop(), audit.WriterOptions{})
	require.NoError(t, err)
	ctx := context.Background()
	tests := []struct {
		name  string
		event eventsvc.Event
		want  string
	}{
		{"other topic", eventsvc.Event{ID: "x", Topic: "github", Payload: []byte(`{}`)}, `topic "github": only auth.audit is written`},
		{"no id", eventsvc.Event{Topic: audit.Topic, Payload: []byte(`{}`)}, "the event id is required"},
		{"not a record", eventsvc.Event{ID: "x", Topic: audit.Topic, Payload: []byte(`{"eventId":""}`)}, "eventId is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, w.Publish(ctx, tt.event), tt.want)
		})
	}
	require.NoError(t, w.Publish(ctx, denial(1, "192.0.2.1", "missing credentials")), "before Start: written at once")
	records, _ := readLog(t, db)
	require.Equal(t, []string{"denial-1"}, records)
}

// TestWriterBoundsRecordsThatAreNotFailures: records that are not failures stay individual
// beyond MaxBatch, up to 4 × MaxBatch per batch; past that (a batch that keeps growing while
// the database does not answer) they are counted too, under their own status.
func TestWriterBoundsRecordsThatAreNotFailures(t *testing.T) {
	t.Parallel()
	db := databasetest.SQLite(t, audit.Migrations)
	ctx := context.Background()
	w, err := audit.NewWriter(audit.NewStore(db, zerolog.Nop()), zerolog.Nop(), audit.WriterOptions{MaxBatch: 2})
	require.NoError(t, err)
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() { require.NoError(t, w.Stop(ctx)) })
	release := holdAppends(t, db)
	results := make(chan error, 20)
	issued := func(i int) eventsvc.Event {
		payload, _ := json.Marshal(audit.Record{Plugin: "auth", EventID: "token-issue", Status: "succeeded",
			Actor: audit.Actor{ActorID: "user:default/bob", IP: "192.0.2.7"}, Timestamp: base.Add(time.Duration(i) * time.Second)})
		return eventsvc.Event{ID: fmt.Sprintf("issued-%d", i), Topic: audit.Topic, Payload: payload}
	}
	go func() { results <- w.Publish(ctx, issued(0)) }()
	require.Eventually(t, func() bool { return w.Committing() == 1 }, 10*time.Second, time.Millisecond)
	for i := 1; i <= 11; i++ {
		go func() { results <- w.Publish(ctx, issued(i)) }()
		require.Eventually(t, func() bool { return w.Queued() == int64(i) }, 10*time.Second, time.Millisecond)
	}
	release()
	for range 12 {
		require.NoError(t, <-results)
	}
	records, aggs := readLog(t, db)
	require.Len(t, records, 1+8)
	require.Equal(t, []aggregateRow{{"token-issue", "192.0.2.7", "", 3}}, aggs)
	page, err := audit.NewStore(db, zerolog.Nop()).List(ctx, audit.Filter{Status: "succeeded", EventID: "token-issue"})
	require.NoError(t, err)
	require.Equal(t, 10, page.TotalItems, "the aggregate keeps the records' status")
	require.Contains(t, page.Items[0].Error, "3 more succeeded token-issue records, from address 192.0.2.7, between 2026-05-01T12:00:09Z and 2026-05-01T12:00:11Z")
}
