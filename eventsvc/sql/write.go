package sqlbus

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

// row is a message ready to insert, made by the publisher's goroutine so that the group
// committer, which serialises every write, only writes.
type row struct {
	topic   string
	part    int
	uuid    string
	payload []byte
	meta    string
	// samePayload: the payload equals the previous row's of the same publish (an event and
	// its sub-topic event); it is stored once, and this row refers to the previous one.
	// SQLite only.
	samePayload bool
}

// toRows prepares a batch's rows; share says whether a row may refer to the previous row's
// payload (SQLite, where the reference is last_insert_rowid(): PostgreSQL could only find it
// with another round trip, and compresses large payloads anyway).
func toRows(batch []eventsvc.Outgoing, share bool) ([]row, error) {
	rows := make([]row, len(batch))
	for i, o := range batch {
		meta, err := json.Marshal(o.Message.Metadata)
		if err != nil {
			return nil, fmt.Errorf("events.sql: publish: metadata: %w", err)
		}
		payload := o.Message.Payload
		if payload == nil {
			payload = []byte{}
		}
		rows[i] = row{
			topic: o.Topic, uuid: o.Message.UUID, payload: payload, meta: string(meta),
			part:        partitionOf(o.Message.Metadata.Get(eventsvc.MetaKeyHeader), o.Message.UUID),
			samePayload: share && i > 0 && len(payload) > 0 && bytes.Equal(payload, rows[i-1].payload),
		}
	}
	return rows, nil
}

// statements are the bus's hot statements. On SQLite they are prepared once (database/sql
// keeps each prepared on every connection that runs it), which saves parsing them for every
// message. On PostgreSQL pgx caches the statements it runs on each connection by itself, and
// a prepared *sql.Stmt would pin the connection that LISTENs (closing the statement waits
// for it), so there the statements run by their text.
type statements struct {
	dialect    database.Dialect
	insert     query // a message with its payload
	insertSame query // a message whose payload is the previous insert's (SQLite)
	once       query // SQLite: append a Once key; PostgreSQL: record one, or renew an expired one
	read       query // a partition's messages after a sequence number
}

// query is a statement's text, and the statement when it is prepared.
type query struct {
	text string
	stmt *sql.Stmt
}

// exec runs the statement in tx.
func (q query) exec(ctx context.Context, tx *sql.Tx, args ...any) (sql.Result, error) {
	if q.stmt != nil {
		return tx.StmtContext(ctx, q.stmt).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q.text, args...)
}

// query runs the statement on db.
func (q query) query(ctx context.Context, db *database.DB, args ...any) (*sql.Rows, error) {
	if q.stmt != nil {
		return q.stmt.QueryContext(ctx, args...)
	}
	return db.QueryContext(ctx, q.text, args...)
}

func prepare(ctx context.Context, db *database.DB) (*statements, error) {
	s := &statements{dialect: db.Dialect()}
	s.insert.text = `INSERT INTO bus_messages (topic, part, uuid, payload, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6)`
	s.insertSame.text = `INSERT INTO bus_messages (topic, part, uuid, payload, metadata, created_at, payload_of) VALUES ($1, $2, $3, $4, $5, $6, last_insert_rowid())`
	if db.Dialect() == database.SQLite {
		s.once.text = `INSERT INTO bus_once (scope, id, expires_at) VALUES ($1, $2, $3)`
	} else {
		s.once.text = `INSERT INTO bus_once (scope, id, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (scope, id) DO UPDATE SET expires_at = excluded.expires_at WHERE bus_once.expires_at < $4`
	}
	s.read.text = `SELECT m.seq, m.uuid, COALESCE(p.payload, m.payload), m.metadata FROM bus_messages m
		LEFT JOIN bus_messages p ON p.seq = m.payload_of
		WHERE m.topic = $1 AND m.part = $2 AND m.seq > $3 ORDER BY m.seq LIMIT $4`
	if db.Dialect() != database.SQLite {
		return s, nil
	}
	for _, q := range []*query{&s.insert, &s.insertSame, &s.once, &s.read} {
		stmt, err := db.PrepareContext(ctx, q.text)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("events.sql: prepare: %w", err)
		}
		q.stmt = stmt
	}
	return s, nil
}

// Close releases the statements.
func (s *statements) Close() error {
	var errs []error
	for _, q := range []query{s.insert, s.insertSame, s.once, s.read} {
		if q.stmt != nil {
			errs = append(errs, q.stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// write stores the requests in one transaction and wakes the readers of their topics. It
// returns the transaction's error, or each request's outcome: nil, or eventsvc.ErrDuplicate
// for a request whose once key is recorded (its messages are not stored).
func (b *Bus) write(ctx context.Context, reqs []*commitReq) (outcomes []error, err error) {
	now := time.Now()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("events.sql: publish: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	pg := b.db.Dialect() == database.Postgres
	if pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(publishLock)); err != nil {
			return nil, fmt.Errorf("events.sql: publish: %w", err)
		}
	}
	if b.once != nil {
		b.once.mu.Lock()
		defer b.once.mu.Unlock()
		last := b.once.last
		defer func() {
			if err != nil {
				b.once.last = last // what the failed transaction wrote is not there
			}
		}()
		if err := b.once.catchUp(ctx, tx); err != nil {
			return nil, err
		}
	}
	outcomes = make([]error, len(reqs))
	topics := map[string]int{}
	for i, r := range reqs {
		if r.once != nil {
			fresh, err := b.recordOnce(ctx, tx, *r.once, now)
			if err != nil {
				return nil, err
			}
			if !fresh {
				outcomes[i] = eventsvc.ErrDuplicate
				continue
			}
		}
		for _, m := range r.rows {
			var err error
			if m.samePayload {
				_, err = b.stmts.insertSame.exec(ctx, tx, m.topic, m.part, m.uuid, []byte{}, m.meta, now.UnixNano())
			} else {
				_, err = b.stmts.insert.exec(ctx, tx, m.topic, m.part, m.uuid, m.payload, m.meta, now.UnixNano())
			}
			if err != nil {
				return nil, fmt.Errorf("events.sql: publish to %s: %w", m.topic, err)
			}
			topics[m.topic]++
		}
	}
	if pg {
		for t := range topics {
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, t); err != nil {
				return nil, fmt.Errorf("events.sql: publish: notify: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("events.sql: publish: %w", err)
	}
	for t, n := range topics {
		b.metrics.published.WithLabelValues(t).Add(float64(n))
		b.hub.wake(t)
	}
	return outcomes, nil
}

// recordOnce records o in tx unless its key is recorded and not expired (fresh is false).
func (b *Bus) recordOnce(ctx context.Context, tx *sql.Tx, o eventsvc.Once, now time.Time) (fresh bool, err error) {
	if b.once != nil {
		return b.once.record(ctx, tx, b.stmts.once, o, now)
	}
	res, err := b.stmts.once.exec(ctx, tx, o.Scope, o.ID, now.Add(o.Keep).UnixNano(), now.UnixNano())
	if err != nil {
		return false, fmt.Errorf("events.sql: record %s %s: %w", o.Scope, o.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("events.sql: record %s %s: %w", o.Scope, o.ID, err)
	}
	return n == 1, nil
}
