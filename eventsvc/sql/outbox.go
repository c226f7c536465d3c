package sqlbus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

var (
	_ eventsvc.Outbox    = (*Bus)(nil)
	_ eventsvc.TxBackend = (*Bus)(nil)
)

// relayGroup is the relay's row in bus_offsets (with topic "" and partition 0): the sequence
// number up to which it has published everything, and the instance that holds its lease.
const relayGroup = "\x1frelay"

const (
	// relayBatch is how many messages one pass of the relay reads and publishes.
	relayBatch = 500
	// relayMaxBackoff caps the wait between failed passes (the target is down).
	relayMaxBackoff = 5 * time.Second
	// lagEvery is how often, at most, the relay measures its lag for the metrics.
	lagEvery = time.Second
)

// PublishTx stores batch in tx, a transaction of the bus's database: the messages are on the
// bus once tx commits, and committed (to call after the commit) wakes their readers. On
// PostgreSQL it takes the advisory lock that orders publishes, held until tx ends, so that
// sequence numbers commit in order; call it last in the transaction.
func (b *Bus) PublishTx(ctx context.Context, tx *sql.Tx, batch []eventsvc.Outgoing) (func(), error) {
	if b.closed.Load() {
		return nil, eventsvc.ErrClosed
	}
	if b.hub == nil {
		return nil, errors.New("events.sql: Publish before Start")
	}
	sqlite := b.db.Dialect() == database.SQLite
	rows := toRows(batch, sqlite)
	now := time.Now().UnixNano()
	topics := map[string]int{}
	for _, m := range rows {
		topics[m.topic]++
	}
	if sqlite {
		for _, m := range rows {
			if err := b.insertSQLite(ctx, tx, m, now); err != nil {
				return nil, err
			}
		}
	} else {
		var g pgGroup
		g.addRows(rows, 0)
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(publishLock)); err != nil {
			return nil, fmt.Errorf("events.sql: publish: %w", err)
		}
		// pgWrite without keys: every message is stored; its result (the fresh keys) is empty.
		if _, err := tx.ExecContext(ctx, pgWrite, []string{}, []string{}, []int64{}, now,
			g.topics, g.parts, g.uuids, g.payloads, g.metas, g.keys, notifyChannel, g.codecs); err != nil {
			return nil, fmt.Errorf("events.sql: publish: %w", err)
		}
	}
	return func() { b.published(topics) }, nil
}

// relay publishes the bus's messages, in the order of their sequence numbers, to another
// backend: the outbox's half that runs in the background. One instance at a time holds the
// relay's lease (events.sql.leaseTimeout) and publishes; the others wait to take over.
type relay struct {
	bus     *Bus
	publish func(ctx context.Context, batch []eventsvc.Outgoing) error
	ctx     context.Context // ends when a stop has waited relayStopTimeout for a pass
	cancel  context.CancelFunc
	quit    chan struct{} // closed by stop: no new pass starts
	done    chan struct{}
}

// relayStopTimeout bounds how long a stop waits for the pass in flight, so that what it
// published is recorded as sent rather than published again by the next relay.
const relayStopTimeout = 10 * time.Second

// Relay starts publishing, with publish, every message stored after this point in the bus's
// life as an outbox (the first Relay on a database starts after the messages already there:
// those were for the SQL bus's own readers), until Close. See eventsvc.Outbox.
func (b *Bus) Relay(publish func(ctx context.Context, batch []eventsvc.Outgoing) error) error {
	if b.hub == nil {
		return errors.New("events.sql: Relay before Start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.db.ExecContext(ctx, `INSERT INTO bus_offsets (grp, topic, part, acked)
		SELECT $1, '', 0, COALESCE(MAX(seq), 0) FROM bus_messages WHERE true ON CONFLICT DO NOTHING`, relayGroup); err != nil {
		return fmt.Errorf("events.sql: create the relay's offset: %w", err)
	}
	r := &relay{bus: b, publish: publish, quit: make(chan struct{}), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	b.mu.Lock()
	if b.relay != nil {
		b.mu.Unlock()
		r.cancel()
		return errors.New("events.sql: the relay is started already")
	}
	b.relay = r
	b.mu.Unlock()
	go r.run()
	return nil
}

// stop ends the relay and waits for it. A pass in flight finishes and records what it
// published, within relayStopTimeout; beyond that it is abandoned, and its messages are
// published again by the next relay (at least once).
func (r *relay) stop() {
	close(r.quit)
	select {
	case <-r.done:
	case <-time.After(relayStopTimeout):
		r.cancel()
		<-r.done
	}
	r.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Let another instance take over at once rather than after the lease.
	_, _ = r.bus.db.ExecContext(ctx, `UPDATE bus_offsets SET owner = '', lease_until = 0 WHERE grp = $1 AND topic = '' AND part = 0 AND owner = $2`,
		relayGroup, r.bus.id)
}

// run is the relay's loop: it takes or renews the lease every third of events.sql.leaseTimeout,
// publishes while it holds it, backs off after a failed pass, and otherwise waits for a
// publish (this process's, or a notification from another instance) or the poll interval.
func (r *relay) run() {
	defer close(r.done)
	woken, unregister := r.bus.hub.register(anyTopic)
	defer unregister()
	var (
		owner   bool
		acked   int64
		renew   time.Time
		backoff time.Duration
		lagAt   time.Time
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-r.quit:
			return
		default:
		}
		if now := time.Now(); !now.Before(renew) {
			var err error
			owner, acked, err = r.claim(r.ctx)
			if err != nil {
				r.warn(err, "taking the relay's lease failed")
			}
			renew = now.Add(r.bus.cfg.LeaseTimeout / 3)
		}
		wait := min(r.bus.cfg.PollInterval, time.Until(renew))
		if owner {
			n, err := r.pass(r.ctx, &acked)
			switch {
			case errors.Is(err, errLeaseLost):
				owner = false
			case err != nil:
				r.bus.metrics.relayFailures.Inc()
				r.warn(err, "publishing the outbox failed; retrying")
				backoff = min(max(2*backoff, 50*time.Millisecond), relayMaxBackoff)
				wait = min(backoff, time.Until(renew))
			default:
				backoff = 0
			}
			if now := time.Now(); !now.Before(lagAt) {
				r.measureLag(r.ctx, acked)
				lagAt = now.Add(lagEvery)
			}
			if err == nil && n == relayBatch {
				continue
			}
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-woken:
			if backoff > 0 { // the target is failing: new messages do not shorten the backoff
				select {
				case <-timer.C:
				case <-r.quit:
				}
			}
		case <-timer.C:
		case <-r.quit:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// errLeaseLost means another instance took the relay's lease over (this one stalled longer
// than events.sql.leaseTimeout): what this pass published may be published again by it.
var errLeaseLost = errors.New("the relay's lease was taken over")

func (r *relay) warn(err error, what string) {
	if r.ctx.Err() == nil {
		r.bus.log.Warn().Err(err).Msg("events.sql: " + what)
	}
}

// claim takes the relay's lease when it is free, expired or this instance's, and returns
// whether this instance holds it and the offset.
func (r *relay) claim(ctx context.Context) (owner bool, acked int64, err error) {
	now := time.Now()
	err = r.bus.db.QueryRowContext(ctx, `UPDATE bus_offsets SET owner = $1, lease_until = $2
		WHERE grp = $3 AND topic = '' AND part = 0 AND (owner = $1 OR owner = '' OR lease_until < $4) RETURNING acked`,
		r.bus.id, now.Add(r.bus.cfg.LeaseTimeout).UnixNano(), relayGroup, now.UnixNano()).Scan(&acked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, nil
	}
	return err == nil, acked, err
}

// RelayRead reads the messages after an offset in order of sequence, with their payloads
// (shared or compressed ones on SQLite).
const RelayRead = `SELECT m.seq, m.topic, m.uuid, ` + payloadColumns + `, m.metadata
	FROM bus_messages m WHERE m.seq > $1 ORDER BY m.seq LIMIT $2`

// pass publishes up to relayBatch messages after *acked, in order, in one call of publish,
// then records the new offset. It returns how many it read.
func (r *relay) pass(ctx context.Context, acked *int64) (int, error) {
	batch, last, err := r.read(ctx, *acked)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	if err := r.publish(ctx, batch); err != nil {
		return len(batch), err
	}
	res, err := r.bus.db.ExecContext(ctx, `UPDATE bus_offsets SET acked = $1 WHERE grp = $2 AND topic = '' AND part = 0 AND owner = $3`,
		last, relayGroup, r.bus.id)
	if err != nil {
		// Published and not recorded: published again by the next pass (at least once).
		return len(batch), err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return len(batch), errLeaseLost
	}
	*acked = last
	r.bus.metrics.relayed.Add(float64(len(batch)))
	return len(batch), nil
}

// read returns the messages after acked, as a batch to publish, and the last sequence number.
func (r *relay) read(ctx context.Context, acked int64) ([]eventsvc.Outgoing, int64, error) {
	rows, err := r.bus.db.QueryContext(ctx, RelayRead, acked, relayBatch)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		batch []eventsvc.Outgoing
		last  int64
	)
	for rows.Next() {
		var (
			seq             int64
			topic, id, meta string
			payload         []byte
			codec           int
		)
		if err := rows.Scan(&seq, &topic, &id, &payload, &codec, &meta); err != nil {
			return nil, 0, err
		}
		if payload, err = decodePayload(seq, payload, codec); err != nil {
			return nil, 0, err
		}
		md, err := parseMetadata(meta)
		if err != nil {
			return nil, 0, fmt.Errorf("message %d: %w", seq, err)
		}
		msg := message.NewMessage(id, payload)
		msg.Metadata = md
		batch = append(batch, eventsvc.Outgoing{Topic: topic, Message: msg})
		last = seq
	}
	return batch, last, rows.Err()
}

// measureLag sets the lag gauges from the database.
func (r *relay) measureLag(ctx context.Context, acked int64) {
	lag, err := r.bus.lagAfter(ctx, acked)
	if err != nil {
		return
	}
	r.bus.metrics.lagMessages.Set(float64(lag.Messages))
	r.bus.metrics.lagSeconds.Set(lag.Oldest.Seconds())
}

// Lag reports the messages the relay has not published yet (up to a million) and the age of
// the oldest.
func (b *Bus) Lag(ctx context.Context) (eventsvc.OutboxLag, error) {
	var acked int64
	if err := b.db.QueryRowContext(ctx, `SELECT acked FROM bus_offsets WHERE grp = $1 AND topic = '' AND part = 0`, relayGroup).Scan(&acked); err != nil {
		return eventsvc.OutboxLag{}, fmt.Errorf("events.sql: the relay's offset: %w", err)
	}
	return b.lagAfter(ctx, acked)
}

// lagCountCap bounds the count of waiting messages, so that measuring a large backlog (for
// a readiness probe, every second for the metrics) does not scan all of it.
const lagCountCap = 1_000_000

// lagAfter counts the messages after acked (up to lagCountCap) and measures the age of the
// first, the oldest: sequence numbers follow the order of the commits.
func (b *Bus) lagAfter(ctx context.Context, acked int64) (eventsvc.OutboxLag, error) {
	var n int64
	if err := b.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM bus_messages WHERE seq > $1 LIMIT $2) w`, acked, lagCountCap).Scan(&n); err != nil {
		return eventsvc.OutboxLag{}, fmt.Errorf("events.sql: the relay's lag: %w", err)
	}
	lag := eventsvc.OutboxLag{Messages: n}
	if n == 0 {
		return lag, nil
	}
	var oldest int64
	err := b.db.QueryRowContext(ctx, `SELECT created_at FROM bus_messages WHERE seq > $1 ORDER BY seq LIMIT 1`, acked).Scan(&oldest)
	switch {
	case errors.Is(err, sql.ErrNoRows): // relayed meanwhile
	case err != nil:
		return eventsvc.OutboxLag{}, fmt.Errorf("events.sql: the relay's lag: %w", err)
	default:
		lag.Oldest = max(time.Since(time.Unix(0, oldest)), 0)
	}
	return lag, nil
}

// stopRelay stops the relay, if one runs.
func (b *Bus) stopRelay() {
	b.mu.Lock()
	r := b.relay
	b.mu.Unlock()
	if r != nil {
		r.stop()
	}
}

// outboxFactory makes the outbox: a bus on the shared database whose relay publishes its
// messages to another backend.
func outboxFactory(p params) eventsvc.OutboxFactory {
	return eventsvc.OutboxFactory{New: func() (eventsvc.Outbox, error) {
		return New(p.DB, p.Config, p.Log.With().Str("module", "events.outbox").Logger(), p.Registerer)
	}}
}
