package sqlbus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stagebus/stagebus/eventsvc"
)

// onceIndex decides Once keys on SQLite. There bus_once is append-only (a key's row is found
// through this index, not through a B-tree of keys): senders' delivery ids are random, and
// inserting each into a B-tree ordered by id dirties a page of its own per key — measured, a
// third of the ingest throughput. The index maps a hash of each key to its row's sequence
// number; a hit is checked against the row, so that a hash collision never makes a new key a
// duplicate. It is exact across processes sharing the file: the rows other processes added are
// read (catchUp) inside the write transaction, which holds SQLite's write lock, before any
// key is decided.
//
// It costs about 30 bytes of memory per key kept (events.http.dedupRetention of webhooks),
// counted in stagebus_events_sql_once_keys.
// The committer uses it inside its transactions; the purge evicts purged keys. mu guards
// both.
type onceIndex struct {
	mu   sync.Mutex
	seed maphash.Seed
	seqs map[uint64]int64 // key hash → sequence number of the key's latest row
	last int64            // highest sequence number read or written and committed
	size prometheus.Gauge // len(seqs)
}

func newOnceIndex(size prometheus.Gauge) *onceIndex {
	return &onceIndex{seed: maphash.MakeSeed(), seqs: map[uint64]int64{}, size: size}
}

func (x *onceIndex) hash(o eventsvc.Once) uint64 {
	var h maphash.Hash
	h.SetSeed(x.seed)
	h.WriteString(o.Scope)
	h.WriteByte(0)
	h.WriteString(o.ID)
	return h.Sum64()
}

// catchUp adds the rows after the last one known, written by other processes (or, the first
// time, all of them).
func (x *onceIndex) catchUp(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, scope, id FROM bus_once WHERE seq > $1 ORDER BY seq`, x.last)
	if err != nil {
		return fmt.Errorf("events.sql: read once keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o eventsvc.Once
		var seq int64
		if err := rows.Scan(&seq, &o.Scope, &o.ID); err != nil {
			return fmt.Errorf("events.sql: read once keys: %w", err)
		}
		x.seqs[x.hash(o)] = seq
		x.last = seq
	}
	x.size.Set(float64(len(x.seqs)))
	return rows.Err()
}

// record decides o in tx: when its key has a row that has not expired, it returns false;
// otherwise it appends a row and returns true. The caller restores last if tx fails.
func (x *onceIndex) record(ctx context.Context, tx *sql.Tx, insert query, o eventsvc.Once, now time.Time) (fresh bool, err error) {
	h := x.hash(o)
	if seq, ok := x.seqs[h]; ok {
		var got eventsvc.Once
		var expires int64
		err := tx.QueryRowContext(ctx, `SELECT scope, id, expires_at FROM bus_once WHERE seq = $1`, seq).Scan(&got.Scope, &got.ID, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows): // purged, or written by a transaction that failed
		case err != nil:
			return false, fmt.Errorf("events.sql: read once key: %w", err)
		case got.Scope == o.Scope && got.ID == o.ID && expires >= now.UnixNano():
			return false, nil
		}
	}
	res, err := insert.exec(ctx, tx, o.Scope, o.ID, now.Add(o.Keep).UnixNano())
	if err != nil {
		return false, fmt.Errorf("events.sql: record %s %s: %w", o.Scope, o.ID, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("events.sql: record %s %s: %w", o.Scope, o.ID, err)
	}
	x.seqs[h] = seq
	x.last = max(x.last, seq)
	x.size.Set(float64(len(x.seqs)))
	return true, nil
}

// evict forgets the keys whose rows are gone: those before the oldest row left. It reads the
// oldest row while holding mu, so that no transaction of this bus adds keys in between: read
// before, an empty table would make it forget a key written meanwhile.
func (x *onceIndex) evict(ctx context.Context, db interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var oldest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MIN(seq) FROM bus_once`).Scan(&oldest); err != nil {
		return fmt.Errorf("events.sql: purge once keys: %w", err)
	}
	for h, seq := range x.seqs {
		if !oldest.Valid || seq < oldest.Int64 {
			delete(x.seqs, h)
		}
	}
	x.size.Set(float64(len(x.seqs)))
	return nil
}
