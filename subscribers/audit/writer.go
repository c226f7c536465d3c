package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/eventsvc"
)

// WriterOptions tune a [Writer]; zero values take the defaults of [Config].
type WriterOptions struct {
	// MaxBatch bounds the individual records of one commit (default 512). Failed records
	// beyond it, while a commit is under way, are counted into aggregate records.
	MaxBatch int
	// MaxAggregates bounds the aggregation keys held in memory (default 1024); see [Writer].
	MaxAggregates int
	// CommitTimeout bounds how long [Writer.Publish] waits for its record's commit
	// (default 5s).
	CommitTimeout time.Duration
	// Bus, when set, receives every committed row (records and aggregates) as an event on
	// [Topic], stored in the row's transaction (through the bus's outbox): a row is never
	// committed without its event, whatever the state of the bus.
	Bus eventsvc.TxPublisher
	// Registerer, when set, receives the writer's metrics.
	Registerer prometheus.Registerer
}

// ErrNotCommitted means that [Writer.Publish] returned before its record was committed: the
// commit took longer than the commit timeout, or the caller's context ended. The record is
// still queued and is written when the database answers, unless the process dies first.
var ErrNotCommitted = errors.New("audit record not committed yet")

// anyValue stands for "any reason" or "any address" in an aggregation key that was widened
// because the key table was full.
const anyValue = "*"

// overflowEventID is the event id of the last-resort aggregate, which counts the failed
// records of any event id once every other key is taken.
const overflowEventID = "audit-overflow"

// Writer appends audit records to the [Store] in batched transactions (group commit), each
// with the events that publish its rows on the bus. It implements eventsvc.Publisher for the
// auth module: Publish returns once the record — or the aggregate record that counts it —
// is committed, so a caller that answers only after Publish returns never answers for a
// record that a crash can lose (unless Publish returned [ErrNotCommitted]).
//
// One commit holds at most MaxBatch individual records. Failed records (denials) that
// arrive while the batch is full are not dropped: they are counted per aggregation key
// (event id, reason, remote address), with the first and last time, and written as one
// aggregate record per key in the same commit ("N more denials, reason R, from address A,
// between T1 and T2"; meta.aggregate true, meta.count N). The key table holds at most
// MaxAggregates keys; when it is full a new key widens to (event id, reason, any address),
// for which a quarter more is reserved, and beyond that to one last-resort key per status
// (event id audit-overflow), so memory stays bounded whatever addresses an attacker uses.
// Records that are not failures (tokens issued, external access) are kept individually up
// to 4 × MaxBatch per batch — a bound that only a database outage reaches — and counted
// the same way beyond it.
//
// Before Start and after Stop, Publish appends synchronously. A commit that fails is retried
// with backoff until it succeeds or the writer stops; what is left at Stop is written once
// more, then logged as lost with its count. It is safe for concurrent use.
type Writer struct {
	store *Store
	opts  WriterOptions
	log   zerolog.Logger
	errs  zerolog.Logger // sampled: a failing database must not flood the log
	m     writerMetrics

	mu         sync.Mutex
	running    bool
	cur        *batch
	committing int // records of the batch being committed
	wake       chan struct{}
	stop       chan struct{}
	done       chan struct{}
}

var _ eventsvc.Publisher = (*Writer)(nil)

type writerMetrics struct {
	rows        *prometheus.CounterVec
	aggregated  prometheus.Counter
	commits     prometheus.Counter
	failures    prometheus.Counter
	unconfirmed prometheus.Counter
}

// hardCapFactor × MaxBatch bounds the individual records of one batch, records that are not
// failures included: a batch that keeps growing while the database is unavailable
// aggregates them too.
const hardCapFactor = 4

// aggKey is what records are counted by.
type aggKey struct{ eventID, status, reason, ip string }

type aggregate struct {
	count       int64
	first, last time.Time
	plugin      string
	severity    string
}

// batch is what one commit writes; done closes when it is committed (err nil) or given up.
type batch struct {
	records []Pending
	aggs    map[aggKey]*aggregate
	wide    int // keys with anyValue as address
	done    chan struct{}
	err     error
}

func newBatch() *batch { return &batch{aggs: map[aggKey]*aggregate{}, done: make(chan struct{})} }

func (b *batch) empty() bool { return len(b.records) == 0 && len(b.aggs) == 0 }

// NewWriter returns a writer appending to s; Start begins batching.
func NewWriter(s *Store, log zerolog.Logger, opts WriterOptions) (*Writer, error) {
	var d Config
	d.SetDefaults()
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = d.MaxBatch
	}
	if opts.MaxAggregates <= 0 {
		opts.MaxAggregates = d.MaxAggregates
	}
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = d.CommitTimeout
	}
	w := &Writer{
		store: s, opts: opts, log: log,
		errs: log.Sample(&zerolog.BurstSampler{Burst: 1, Period: 10 * time.Second}),
		m: writerMetrics{
			rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stagebus_audit_rows_written_total",
				Help: "Audit log rows committed, by kind: record (one event) or aggregate (counts several denials)."}, []string{"kind"}),
			aggregated: prometheus.NewCounter(prometheus.CounterOpts{Name: "stagebus_audit_records_aggregated_total",
				Help: "Failed audit records counted into an aggregate row instead of a row of their own."}),
			commits:     prometheus.NewCounter(prometheus.CounterOpts{Name: "stagebus_audit_commits_total", Help: "Audit log batches committed."}),
			failures:    prometheus.NewCounter(prometheus.CounterOpts{Name: "stagebus_audit_commit_failures_total", Help: "Audit log batch commits that failed (and were retried)."}),
			unconfirmed: prometheus.NewCounter(prometheus.CounterOpts{Name: "stagebus_audit_unconfirmed_total", Help: "Audit records whose caller stopped waiting before their commit."}),
		},
		wake: make(chan struct{}, 1),
	}
	w.m.rows.WithLabelValues("record")
	w.m.rows.WithLabelValues("aggregate")
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{w.m.rows, w.m.aggregated, w.m.commits, w.m.failures, w.m.unconfirmed} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register audit writer metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Publish writes the audit record carried by e (its payload is a [Record]; e.ID is the
// message id, e.Time the default timestamp) and returns once it is committed, or with
// [ErrNotCommitted] when the commit timeout or ctx ends first. An invalid record is an
// error at once. The topic must be [Topic].
func (w *Writer) Publish(ctx context.Context, e eventsvc.Event) error {
	if e.Topic != Topic {
		return fmt.Errorf("audit writer: topic %q: only %s is written", e.Topic, Topic)
	}
	if e.ID == "" {
		return errors.New("audit writer: the event id is required")
	}
	rec, err := ParseRecord(e.Payload)
	if err != nil {
		return fmt.Errorf("audit event %s: %w", e.ID, err)
	}
	if rec.Timestamp.IsZero() {
		rec.Timestamp = e.Time
	}
	if rec.Timestamp.IsZero() {
		rec.Timestamp = time.Now()
	}
	rec.Timestamp = rec.Timestamp.UTC()
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return w.commitOnce(ctx, []Pending{{MessageID: e.ID, Record: rec}})
	}
	b := w.cur
	switch {
	case len(b.records) < w.opts.MaxBatch,
		rec.Status != "failed" && len(b.records) < w.opts.MaxBatch*hardCapFactor:
		b.records = append(b.records, Pending{MessageID: e.ID, Record: rec})
	default:
		w.aggregate(b, rec)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(w.opts.CommitTimeout)
	defer t.Stop()
	select {
	case <-b.done:
		return b.err
	case <-t.C:
	case <-ctx.Done():
	}
	w.m.unconfirmed.Inc()
	return ErrNotCommitted
}

// aggregate counts rec into b's aggregation table (by event id, status, reason — meta.reason
// or else the error — and address); w.mu is held.
func (w *Writer) aggregate(b *batch, rec Record) {
	w.m.aggregated.Inc()
	reason := rec.Error
	if r, ok := rec.Meta["reason"].(string); ok && r != "" {
		reason = r
	}
	exact := aggKey{rec.EventID, rec.Status, reason, rec.Actor.IP}
	wide := aggKey{rec.EventID, rec.Status, reason, anyValue}
	var key aggKey
	switch {
	case b.aggs[exact] != nil:
		key = exact
	case len(b.aggs)-b.wide < w.opts.MaxAggregates:
		key = exact
	case b.aggs[wide] != nil:
		key = wide
	case b.wide < w.opts.MaxAggregates/4+1:
		key = wide
		b.wide++
	default:
		key = aggKey{overflowEventID, rec.Status, anyValue, anyValue}
	}
	a := b.aggs[key]
	if a == nil {
		a = &aggregate{first: rec.Timestamp, plugin: rec.Plugin, severity: rec.SeverityLevel}
		b.aggs[key] = a
	}
	a.count++
	a.first = minTime(a.first, rec.Timestamp)
	a.last = maxTime(a.last, rec.Timestamp)
	if severityRank[rec.SeverityLevel] > severityRank[a.severity] {
		a.severity = rec.SeverityLevel
	}
}

var severityRank = map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// pending returns the batch's rows: its records, then one aggregate record per key (each
// with a message id of its own).
func (b *batch) pending() []Pending {
	out := append(make([]Pending, 0, len(b.records)+len(b.aggs)), b.records...)
	for k, a := range b.aggs {
		plugin := a.plugin
		if plugin == "" {
			plugin = "auth"
		}
		what := "denials"
		if k.status != "failed" {
			what = k.status + " " + k.eventID + " records"
		}
		if k.reason != "" {
			what += ", reason " + k.reason
		}
		out = append(out, Pending{MessageID: uuid.NewString(), Record: Record{
			Plugin: plugin, EventID: k.eventID, SeverityLevel: a.severity, Status: k.status,
			Actor: Actor{IP: k.ip},
			Error: fmt.Sprintf("%d more %s, from address %s, between %s and %s",
				a.count, what, k.ip, a.first.Format(time.RFC3339Nano), a.last.Format(time.RFC3339Nano)),
			Meta: map[string]any{"aggregate": true, "count": a.count, "reason": k.reason, "ip": k.ip,
				"firstAt": a.first, "lastAt": a.last},
			Timestamp: a.first,
		}})
	}
	return out
}

// Start begins batching: records are committed by one goroutine until Stop.
func (w *Writer) Start(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return nil
	}
	w.running, w.cur = true, newBatch()
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go w.run()
	return nil
}

// Stop writes what is queued and stops batching, waiting until ctx ends at most.
func (w *Writer) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return nil
	}
	w.running = false
	w.mu.Unlock()
	close(w.stop)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return errors.Join(errors.New("audit writer: records still being written when the stop timeout ended"), ctx.Err())
	}
}

// run commits one batch at a time. While a batch commits (and its rows are published), the
// next one fills; waiting for the previous commit is what makes batches grow under load.
func (w *Writer) run() {
	defer close(w.done)
	for {
		stopping := false
		select {
		case <-w.wake:
		case <-w.stop:
			stopping = true
		}
		w.mu.Lock()
		b := w.cur
		w.cur = newBatch()
		w.committing = len(b.records)
		w.mu.Unlock()
		if !b.empty() {
			w.commit(b, stopping)
		}
		w.mu.Lock()
		w.committing = 0
		w.mu.Unlock()
		if stopping {
			return
		}
	}
}

// commit writes b, retrying a failure with backoff until it succeeds or the writer stops
// (once stopping, it tries once). Then it releases b's waiters and publishes the rows.
func (w *Writer) commit(b *batch, stopping bool) {
	rows := b.pending()
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		entries, err := w.store.AppendBatch(ctx, rows, w.publishTx(ctx))
		cancel()
		if err == nil {
			w.count(b, entries)
			close(b.done)
			return
		}
		w.m.failures.Inc()
		if stopping {
			b.err = err
			close(b.done)
			w.log.Error().Err(err).Int("rows", len(rows)).Msg("audit records lost: the last batch could not be written at stop")
			return
		}
		w.errs.Error().Err(err).Int("rows", len(rows)).Dur("retry_in", backoff).Msg("cannot write audit records; retrying")
		select {
		case <-time.After(backoff):
		case <-w.stop:
			stopping = true
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// commitOnce appends rows now (the synchronous path, before Start and after Stop).
func (w *Writer) commitOnce(ctx context.Context, rows []Pending) error {
	entries, err := w.store.AppendBatch(ctx, rows, w.publishTx(ctx))
	if err != nil {
		w.m.failures.Inc()
		return err
	}
	w.count(nil, entries)
	return nil
}

// count updates the metrics for committed entries, and warns (sampled) when b had to
// aggregate; b is nil for a synchronous append.
func (w *Writer) count(b *batch, entries []Entry) {
	w.m.commits.Inc()
	aggs := 0
	for _, e := range entries {
		if e.Meta["aggregate"] == true {
			aggs++
		}
	}
	w.m.rows.WithLabelValues("aggregate").Add(float64(aggs))
	w.m.rows.WithLabelValues("record").Add(float64(len(entries) - aggs))
	if b != nil && len(b.aggs) > 0 {
		w.errs.Warn().Int("aggregate_rows", len(b.aggs)).Int("records", len(b.records)).
			Msg("audit writer over its batch size; failed records aggregated")
	}
}

// publishTx returns how AppendBatch stores the appended rows' events on the bus, in its
// transaction; nil without a bus.
func (w *Writer) publishTx(ctx context.Context) PublishTx {
	if w.opts.Bus == nil {
		return nil
	}
	return func(tx *sql.Tx, entries []Entry) (func(), error) {
		events := make([]eventsvc.Event, len(entries))
		for i, e := range entries {
			key := e.Actor.ActorID
			if key == "" {
				key = e.Actor.IP
			}
			events[i] = eventsvc.Event{ID: e.MessageID, Topic: Topic, Key: key, Payload: []byte(e.RawRecord), Time: e.Timestamp}
		}
		return w.opts.Bus.PublishTx(ctx, tx, events...)
	}
}
