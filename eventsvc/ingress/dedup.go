package ingress

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/internal/background"
)

// DedupMigrations create the delivery table.
var DedupMigrations = []database.Migration{{
	Module:  "ingress",
	Version: 1,
	SQL: `CREATE TABLE ingress_deliveries (
		topic TEXT NOT NULL,
		delivery_id TEXT NOT NULL,
		state TEXT NOT NULL,
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (topic, delivery_id)
	);
	CREATE INDEX ingress_deliveries_updated ON ingress_deliveries (updated_at)`,
}}

// Claim is the outcome of claiming a delivery id.
type Claim int

// The outcomes.
const (
	// Claimed: this request publishes the delivery.
	Claimed Claim = iota
	// Duplicate: the delivery is on the bus already.
	Duplicate
	// Pending: another request is publishing it right now.
	Pending
)

// dedupBatch bounds the operations of one transaction.
const dedupBatch = 256

// Dedup remembers delivery ids, race-free across requests and instances sharing the
// database: a delivery is first claimed (pending), then confirmed (published) once its event
// is on the bus, or released when the publish failed, so that the sender's retry is accepted.
// A pending claim older than StaleAfter (its instance died while publishing) may be taken
// over.
//
// Concurrent requests' writes share transactions (group commit): one goroutine takes every
// operation waiting, runs them in one transaction, and answers each once it committed, so the
// database commits once per batch instead of once per request.
type Dedup struct {
	db         *database.DB
	log        zerolog.Logger
	retention  time.Duration
	StaleAfter time.Duration
	now        func() time.Time

	ops  chan *op
	stop chan struct{}
	wg   sync.WaitGroup
	// purger removes expired deliveries between Start and Stop.
	purger *background.Loop
}

type opKind int

const (
	opClaim opKind = iota
	opConfirm
	opRelease
)

type op struct {
	kind  opKind
	topic string
	id    string
	ctx   context.Context
	done  chan struct{} // nil for fire-and-forget confirms
	claim Claim
	err   error
}

// NewDedup returns a deduplicator on db; Start runs its writer and its hourly purge of
// deliveries older than retention. Failed purges are counted on reg (loop
// events.http.dedup.purge); reg may be nil.
func NewDedup(db *database.DB, retention time.Duration, log zerolog.Logger, reg prometheus.Registerer) *Dedup {
	d := &Dedup{
		db: db, log: log, retention: retention, StaleAfter: time.Minute, now: time.Now,
		ops: make(chan *op, 4*dedupBatch), stop: make(chan struct{}),
	}
	d.purger = background.New("events.http.dedup.purge", time.Hour, d.purge,
		background.Immediately(), background.WithTimeout(time.Minute), background.WithLogger(log), background.WithRegisterer(reg))
	return d
}

// ErrDedupStopped is returned once the deduplicator stopped.
var ErrDedupStopped = errors.New("deduplication stopped")

func (d *Dedup) submit(ctx context.Context, o *op) error {
	select {
	case d.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stop:
		return ErrDedupStopped
	}
	if o.done == nil {
		return nil
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Claim records a delivery as pending unless it is known; it returns once the record is
// committed.
func (d *Dedup) Claim(ctx context.Context, topic, id string) (Claim, error) {
	o := &op{kind: opClaim, topic: topic, id: id, ctx: ctx, done: make(chan struct{})}
	if err := d.submit(ctx, o); err != nil {
		return 0, err
	}
	return o.claim, nil
}

// Confirm marks a claimed delivery as published, without waiting: should it be lost, the
// pending claim goes stale and a redelivery publishes again (at least once).
func (d *Dedup) Confirm(topic, id string) {
	_ = d.submit(context.Background(), &op{kind: opConfirm, topic: topic, id: id, ctx: context.Background()})
}

// Release forgets a claimed delivery whose publish failed, so that the sender's retry is
// accepted; it returns once committed.
func (d *Dedup) Release(ctx context.Context, topic, id string) error {
	return d.submit(ctx, &op{kind: opRelease, topic: topic, id: id, ctx: ctx, done: make(chan struct{})})
}

// Start runs the writer and the purge of expired deliveries until Stop.
func (d *Dedup) Start(ctx context.Context) error {
	if err := d.purger.Start(ctx); err != nil {
		return err
	}
	d.wg.Go(d.writer)
	return nil
}

// Stop ends the writer after the operations already queued, and the purge: a purge under
// way is cancelled, and Stop waits for it until ctx ends.
func (d *Dedup) Stop(ctx context.Context) error {
	close(d.stop)
	d.wg.Wait()
	return d.purger.Stop(ctx)
}

func (d *Dedup) writer() {
	batch := make([]*op, 0, dedupBatch)
	for {
		select {
		case o := <-d.ops:
			batch = append(batch[:0], o)
		case <-d.stop:
			// Drain what was queued before the stop.
			for {
				select {
				case o := <-d.ops:
					d.run([]*op{o})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < dedupBatch {
			select {
			case o := <-d.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		d.run(batch)
	}
}

// run executes a batch in one transaction and answers every operation in it. When the batch
// fails, its operations are run again one per transaction, so that a row the database refuses
// fails only its own request (and a confirmation is not lost with its neighbours), unless the
// failure was the database's, not a row's: then every operation fails at once.
func (d *Dedup) run(batch []*op) {
	live := batch[:0:0]
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			d.finish(o, err)
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	err := d.applyTimed(live)
	if err != nil && len(live) > 1 && rowError(err) {
		for _, o := range live {
			if cerr := o.ctx.Err(); cerr != nil {
				d.finish(o, cerr)
				continue
			}
			if oerr := d.applyTimed([]*op{o}); oerr != nil {
				d.finish(o, fmt.Errorf("deduplication: %w", oerr))
			} else {
				d.finish(o, nil)
			}
		}
		return
	}
	for _, o := range live {
		if err != nil {
			o.err = fmt.Errorf("deduplication: %w", err)
		}
		d.finish(o, o.err)
	}
}

// applyTimed runs apply with the time one transaction may take.
func (d *Dedup) applyTimed(ops []*op) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.apply(ctx, ops)
}

// rowError says whether a failed batch may have failed because of one of its rows, rather than
// because the database is unreachable or too slow (retrying row by row would then only
// multiply the wait).
func rowError(err error) bool {
	return !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, driver.ErrBadConn) && !errors.Is(err, sql.ErrConnDone)
}

func (d *Dedup) finish(o *op, err error) {
	o.err = err
	if o.done != nil {
		close(o.done)
	} else if err != nil {
		d.log.Warn().Err(err).Str("delivery_id", o.id).Msg("could not mark the delivery published; a redelivery will be published again")
	}
}

type key struct{ topic, id string }

// apply runs the operations of a batch in one transaction, setting each claim's outcome.
func (d *Dedup) apply(ctx context.Context, ops []*op) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	now := d.now().UnixMilli()

	var claims, confirms, releases []key
	first := map[key]*op{}
	for _, o := range ops {
		k := key{o.topic, o.id}
		switch o.kind {
		case opClaim:
			if first[k] != nil {
				o.claim = Pending // the same delivery twice in one batch: the first one publishes
				continue
			}
			first[k] = o
			claims = append(claims, k)
		case opConfirm:
			confirms = append(confirms, k)
		case opRelease:
			releases = append(releases, k)
		}
	}

	if len(releases) > 0 {
		q, args := tuples(`DELETE FROM ingress_deliveries WHERE state = 'pending' AND (topic, delivery_id) IN `, releases, nil)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	if len(confirms) > 0 {
		q, args := tuples(`UPDATE ingress_deliveries SET state = 'published', updated_at = $1 WHERE (topic, delivery_id) IN `, confirms, []any{now})
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	if len(claims) > 0 {
		if err := d.claim(ctx, tx, claims, first, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// txLike is the part of *sql.Tx the queries need.
type txLike interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// claim inserts the new deliveries and classifies the known ones.
func (d *Dedup) claim(ctx context.Context, tx txLike, claims []key, first map[key]*op, now int64) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO ingress_deliveries (topic, delivery_id, state, updated_at) VALUES `)
	args := make([]any, 0, 2*len(claims)+1)
	args = append(args, now)
	for i, k := range claims {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "($%d, $%d, 'pending', $1)", len(args)+1, len(args)+2)
		args = append(args, k.topic, k.id)
	}
	b.WriteString(` ON CONFLICT (topic, delivery_id) DO NOTHING RETURNING topic, delivery_id`)
	inserted := map[key]bool{}
	if err := queryKeys(ctx, tx, b.String(), args, inserted); err != nil {
		return err
	}
	var known []key
	for _, k := range claims {
		if inserted[k] {
			first[k].claim = Claimed
		} else {
			known = append(known, k)
		}
	}
	if len(known) == 0 {
		return nil
	}
	// Known deliveries: published ones are duplicates; a stale pending claim is taken over.
	stale := now - d.StaleAfter.Milliseconds()
	q, qargs := tuples(`UPDATE ingress_deliveries SET updated_at = $1 WHERE state = 'pending' AND updated_at < $2 AND (topic, delivery_id) IN `, known, []any{now, stale})
	taken := map[key]bool{}
	if err := queryKeys(ctx, tx, q+` RETURNING topic, delivery_id`, qargs, taken); err != nil {
		return err
	}
	q, qargs = tuples(`SELECT topic, delivery_id FROM ingress_deliveries WHERE state = 'published' AND (topic, delivery_id) IN `, known, nil)
	published := map[key]bool{}
	if err := queryKeys(ctx, tx, q, qargs, published); err != nil {
		return err
	}
	for _, k := range known {
		switch {
		case taken[k]:
			first[k].claim = Claimed
		case published[k]:
			first[k].claim = Duplicate
		default:
			// Pending elsewhere, or deleted by a release in between: try again shortly.
			first[k].claim = Pending
		}
	}
	return nil
}

// tuples appends "(($n, $n+1), …)" for keys to prefix, after the given leading arguments.
func tuples(prefix string, keys []key, lead []any) (string, []any) {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('(')
	args := append(make([]any, 0, len(lead)+2*len(keys)), lead...)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("($" + strconv.Itoa(len(args)+1) + ", $" + strconv.Itoa(len(args)+2) + ")")
		args = append(args, k.topic, k.id)
	}
	b.WriteByte(')')
	return b.String(), args
}

func queryKeys(ctx context.Context, tx txLike, q string, args []any, into map[key]bool) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.topic, &k.id); err != nil {
			return err
		}
		into[k] = true
	}
	return rows.Err()
}

// purge is one iteration of the purge schedule: it removes deliveries older than the
// retention.
func (d *Dedup) purge(ctx context.Context) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM ingress_deliveries WHERE updated_at < $1`, d.now().Add(-d.retention).UnixMilli())
	if err != nil {
		return fmt.Errorf("purge old delivery ids: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		d.log.Info().Int64("purged", n).Msg("old delivery ids purged")
	}
	return nil
}
