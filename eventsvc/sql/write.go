package sqlbus

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/klauspost/compress/s2"

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
	stored  []byte // payload as stored: compressed with codec
	codec   int
	meta    string
	// samePayload: the payload equals the previous row's of the same publish (an event and
	// its sub-topic event); it is stored once, and this row refers to the previous one.
	// Readers follow one reference, so a row that refers to another is never referred to:
	// of three equal payloads in a row, the third is stored again. SQLite only.
	samePayload bool
}

// codecS2 marks a payload stored compressed with github.com/klauspost/compress/s2 (block
// format) in bus_messages.codec; 0 is a payload stored as it is.
const codecS2 = 1

// compressFrom is the smallest payload compressed. A payload of at least this size is stored
// compressed when that saves a tenth or more: a 2.7 KB GitHub push takes about half. On
// SQLite two events' rows then share a 4 KB page instead of taking one each, halving what the
// group committer (SQLite's one writer) writes to the WAL and again to the database file
// (measured: 0.27–0.30× to 0.31–0.36× of the bare handler's ingest rate). On PostgreSQL the row
// stays under the 2 KB at which the server would compress the value itself, with pglz, on the
// cores it shares with everything else.
const compressFrom = 512

// scratch holds s2's working buffers (MaxEncodedLen of the payload) between publishes.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// compress returns payload compressed with s2 in a slice of its own size, or nil when that
// saves less than a tenth.
func compress(payload []byte) []byte {
	buf := scratch.Get().(*[]byte)
	defer scratch.Put(buf)
	if n := s2.MaxEncodedLen(len(payload)); cap(*buf) < n {
		*buf = make([]byte, n)
	}
	c := s2.Encode((*buf)[:cap(*buf)], payload)
	if len(c) >= len(payload)*9/10 {
		return nil
	}
	return bytes.Clone(c)
}

// toRows prepares a batch's rows, payloads compressed (see compressFrom). sqlite says whether
// a row may refer to the previous row's payload (the reference is last_insert_rowid():
// PostgreSQL could only find it with another round trip); on PostgreSQL such a row shares the
// previous row's compressed payload instead.
func toRows(batch []eventsvc.Outgoing, sqlite bool) []row {
	rows := make([]row, len(batch))
	for i, o := range batch {
		meta := appendMetadata(nil, o.Message.Metadata)
		payload := o.Message.Payload
		if payload == nil {
			payload = []byte{}
		}
		same := i > 0 && len(payload) > 0 && bytes.Equal(payload, rows[i-1].payload)
		rows[i] = row{
			topic: o.Topic, uuid: o.Message.UUID, payload: payload, stored: payload, meta: string(meta),
			part:        partitionOf(o.Message.Metadata.Get(eventsvc.MetaKeyHeader), o.Message.UUID),
			samePayload: sqlite && same && !rows[i-1].samePayload,
		}
		switch {
		case same: // stored as the previous row is (not written when it refers to that row)
			rows[i].stored, rows[i].codec = rows[i-1].stored, rows[i-1].codec
		case len(payload) >= compressFrom:
			if c := compress(payload); c != nil {
				rows[i].stored, rows[i].codec = c, codecS2
			}
		}
	}
	return rows
}

// statements are the bus's hot statements on SQLite, prepared once (database/sql keeps each
// prepared on every connection that runs it), which saves parsing them for every message. On
// PostgreSQL there are none: a group is written by one pipelined batch (writePostgres), and a
// reader's partitions are read and its offsets recorded by one statement each (pgFetch,
// pgRecord or pgRecordMarks), statements that pgx prepares and caches on each connection by itself — a
// prepared *sql.Stmt would also pin the connection that LISTENs (closing the statement waits
// for it).
type statements struct {
	insert     query // a message with its payload
	insertSame query // a message whose payload is the previous insert's
	once       query // append a Once key
	read       query // a partition's messages after a sequence number
	offset     query // record a partition's watermark, or release it
	mark       query // append a handled-at mark
}

// query is a prepared statement and its text.
type query struct {
	text string
	stmt *sql.Stmt
}

// exec runs the statement in tx.
func (q query) exec(ctx context.Context, tx *sql.Tx, args ...any) (sql.Result, error) {
	return tx.StmtContext(ctx, q.stmt).ExecContext(ctx, args...)
}

// query runs the statement outside a transaction.
func (q query) query(ctx context.Context, args ...any) (*sql.Rows, error) {
	return q.stmt.QueryContext(ctx, args...)
}

// ReadSQLite is a reader's fetch on SQLite: the messages of a topic's partition after an
// offset, with their payloads (a shared one read by its key). The plan is pinned — INDEXED
// BY, and the shared payload in subqueries rather than a join: planner statistics taken while
// the table held one message (PRAGMA optimize at start-up) made SQLite scan the whole table
// for every message fetched once it had grown, and subscribers all but stopped.
const ReadSQLite = `SELECT m.seq, m.uuid, ` + payloadColumns + `, m.metadata
	FROM bus_messages m INDEXED BY bus_messages_topic_part_seq
	WHERE m.topic = $1 AND m.part = $2 AND m.seq > $3 ORDER BY m.seq LIMIT $4`

// payloadColumns are the payload and codec of message m, which may share another message's
// (payload_of): read by that message's key, in subqueries, whose plan statistics cannot turn
// into a scan as a join's did.
const payloadColumns = `COALESCE((SELECT p.payload FROM bus_messages p WHERE p.seq = m.payload_of), m.payload),
	COALESCE((SELECT p.codec FROM bus_messages p WHERE p.seq = m.payload_of), m.codec)`

// prepare prepares the statements on SQLite; on PostgreSQL it returns nil.
func prepare(ctx context.Context, db *database.DB) (*statements, error) {
	if db.Dialect() != database.SQLite {
		return nil, nil
	}
	s := &statements{}
	s.insert.text = `INSERT INTO bus_messages (topic, part, uuid, payload, codec, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	s.insertSame.text = `INSERT INTO bus_messages (topic, part, uuid, payload, metadata, created_at, payload_of) VALUES ($1, $2, $3, $4, $5, $6, last_insert_rowid())`
	s.once.text = `INSERT INTO bus_once (scope, id, expires_at) VALUES ($1, $2, $3)`
	s.read.text = ReadSQLite
	s.offset.text = `UPDATE bus_offsets SET acked = MAX(acked, $1), owner = $2 WHERE grp = $3 AND topic = $4 AND part = $5 AND owner = $6`
	s.mark.text = `INSERT INTO bus_marks (grp, topic, part, acked, prev, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`
	for _, q := range s.all() {
		stmt, err := db.PrepareContext(ctx, q.text)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("events.sql: prepare: %w", err)
		}
		q.stmt = stmt
	}
	return s, nil
}

func (s *statements) all() []*query {
	return []*query{&s.insert, &s.insertSame, &s.once, &s.read, &s.offset, &s.mark}
}

// Close releases the statements.
func (s *statements) Close() error {
	var errs []error
	for _, q := range s.all() {
		if q.stmt != nil {
			errs = append(errs, q.stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// write stores the requests in one transaction and wakes the readers of their topics. It
// returns the transaction's error, or each request's outcome: nil, or eventsvc.ErrDuplicate
// for a request whose once key is recorded (its messages are not stored). A request whose key
// an earlier request of reqs has is a duplicate too: the first wins.
//
// The messages are stored in the order of reqs and of each request's rows, so that their
// sequence numbers — the order readers deliver a partition in — follow the order of the
// publishes the committer took and, within a batch, the order of the batch.
func (b *Bus) write(ctx context.Context, reqs []*commitReq) (outcomes []error, err error) {
	if b.db.Dialect() == database.Postgres {
		return b.writePostgres(ctx, reqs)
	}
	return b.writeSQLite(ctx, reqs)
}

// writeSQLite writes the requests with the prepared statements, one message at a time, in one
// transaction: on SQLite a statement costs no round trip. Once keys are decided through the
// bus's onceIndex.
func (b *Bus) writeSQLite(ctx context.Context, reqs []*commitReq) (outcomes []error, err error) {
	now := time.Now()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("events.sql: publish: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// The transaction ends with ctx (database/sql rolls it back then); its statements run on
	// a context that cannot be cancelled, because modernc's driver starts a goroutine to watch
	// every statement's cancellable context: three a webhook, a tenth of the writer's time.
	ctx = context.WithoutCancel(ctx)
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
	outcomes = make([]error, len(reqs))
	topics := map[string]int{}
	for i, r := range reqs {
		if r.once != nil {
			fresh, err := b.once.record(ctx, tx, b.stmts.once, *r.once, now)
			if err != nil {
				return nil, err
			}
			if !fresh {
				outcomes[i] = eventsvc.ErrDuplicate
				continue
			}
		}
		for _, m := range r.rows {
			if err := b.insertSQLite(ctx, tx, m, now.UnixNano()); err != nil {
				return nil, err
			}
			topics[m.topic]++
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("events.sql: publish: %w", err)
	}
	b.published(topics)
	return outcomes, nil
}

// insertSQLite inserts m in tx with the prepared statements, stored at now (Unix
// nanoseconds).
func (b *Bus) insertSQLite(ctx context.Context, tx *sql.Tx, m row, now int64) error {
	var err error
	if m.samePayload {
		_, err = b.stmts.insertSame.exec(ctx, tx, m.topic, m.part, m.uuid, []byte{}, m.meta, now)
	} else {
		_, err = b.stmts.insert.exec(ctx, tx, m.topic, m.part, m.uuid, m.stored, m.codec, m.meta, now)
	}
	if err != nil {
		return fmt.Errorf("events.sql: publish to %s: %w", m.topic, err)
	}
	return nil
}

// decodePayload returns the payload of message seq as it was published, from how it is
// stored (codec).
func decodePayload(seq int64, stored []byte, codec int) ([]byte, error) {
	if codec != codecS2 {
		return stored, nil
	}
	payload, err := s2.Decode(nil, stored)
	if err != nil {
		return nil, fmt.Errorf("message %d: payload: %w", seq, err)
	}
	return payload, nil
}

// published counts the messages stored per topic and wakes the topics' readers in this
// process.
func (b *Bus) published(topics map[string]int) {
	for t, n := range topics {
		b.metrics.published.WithLabelValues(t).Add(float64(n))
		b.hub.wake(t)
	}
}

// pgWrite records the once keys of a group and stores its messages, in one statement, on
// PostgreSQL. Its parameters are columns: $1–$3 the keys (scope, id, expiry), $4 the time of
// the publish, $5–$10 and $12 the messages (topic, partition, id, payload as stored,
// metadata, the 1-based number of the key of their request, 0 for none, and the payload's
// codec), $11 the notification channel.
//
// A key is inserted, or renewed when it has expired (ON CONFLICT … WHERE: bus_once's primary
// key decides it, across instances); the keys written are the fresh ones. A message is
// stored when its request has no key or a fresh one, in the order of the arrays (ORDER BY
// the ordinality: the sequence numbers follow it). The readers of the topics stored are
// notified (delivered at commit). The result is the numbers of the fresh keys.
// The keys must be distinct (a key written twice in one statement is an error).
const pgWrite = `WITH keys AS (
	INSERT INTO bus_once (scope, id, expires_at)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
	ON CONFLICT (scope, id) DO UPDATE SET expires_at = excluded.expires_at WHERE bus_once.expires_at < $4::bigint
	RETURNING scope, id
), fresh AS (
	SELECT k.n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(scope, id, n) JOIN keys USING (scope, id)
), stored AS (
	INSERT INTO bus_messages (topic, part, uuid, payload, codec, metadata, created_at)
	SELECT m.topic, m.part, m.uuid, m.payload, m.codec, m.metadata, $4::bigint
	FROM unnest($5::text[], $6::int[], $7::text[], $8::bytea[], $9::text[], $10::bigint[], $12::smallint[])
		WITH ORDINALITY AS m(topic, part, uuid, payload, metadata, key, codec, n)
	WHERE m.key = 0 OR m.key IN (SELECT n FROM fresh)
	ORDER BY m.n
	RETURNING topic
), notified AS (
	SELECT pg_notify($11, topic) FROM (SELECT DISTINCT topic FROM stored) d
)
SELECT ARRAY(SELECT n FROM fresh) FROM (SELECT count(*) FROM notified) c`

// pgGroup is a group's columns for pgWrite.
type pgGroup struct {
	scopes, ids          []string
	expires              []int64
	topics, uuids, metas []string
	parts                []int32
	payloads             [][]byte
	keys                 []int64
	codecs               []int16
}

// addRows adds the messages of a request whose key is number key (0: none).
func (g *pgGroup) addRows(rows []row, key int64) {
	for _, m := range rows {
		g.topics, g.uuids, g.metas = append(g.topics, m.topic), append(g.uuids, m.uuid), append(g.metas, m.meta)
		g.parts, g.payloads, g.keys = append(g.parts, int32(m.part)), append(g.payloads, m.stored), append(g.keys, key)
		g.codecs = append(g.codecs, int16(m.codec))
	}
}

// writePostgres writes the requests in one round trip: a pipelined batch of the advisory lock
// and pgWrite, which PostgreSQL runs as one implicit transaction — committed at the batch's
// end, rolled back as a whole when a statement fails. The lock is taken before any sequence
// number, and held until the commit, so that sequence numbers commit in order. Rows carry
// their payload here, compressed or not (toRows refers to no other row on PostgreSQL).
func (b *Bus) writePostgres(ctx context.Context, reqs []*commitReq) ([]error, error) {
	now := time.Now()
	outcomes := make([]error, len(reqs))
	var g pgGroup
	keyOf := make([]int64, len(reqs)) // 1-based number of a request's key in g; 0: none
	taken := map[eventsvc.Once]bool{} // the keys of g, with Keep zero
	for i, r := range reqs {
		if r.once != nil {
			k := eventsvc.Once{Scope: r.once.Scope, ID: r.once.ID}
			if taken[k] {
				outcomes[i] = eventsvc.ErrDuplicate // an earlier request of the group has it
				continue
			}
			taken[k] = true
			g.scopes, g.ids = append(g.scopes, k.Scope), append(g.ids, k.ID)
			g.expires = append(g.expires, now.Add(r.once.Keep).UnixNano())
			keyOf[i] = int64(len(g.scopes))
		}
		g.addRows(r.rows, keyOf[i])
	}
	var fresh []int64
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("events.sql: publish: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection: %T", dc)
		}
		batch := &pgx.Batch{}
		batch.Queue(`SELECT pg_advisory_xact_lock($1)`, int64(publishLock))
		batch.Queue(pgWrite, g.scopes, g.ids, g.expires, now.UnixNano(),
			g.topics, g.parts, g.uuids, g.payloads, g.metas, g.keys, notifyChannel, g.codecs).
			QueryRow(func(row pgx.Row) error { return row.Scan(&fresh) })
		return sc.Conn().SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("events.sql: publish: %w", err)
	}
	stored := make(map[int64]bool, len(fresh))
	for _, n := range fresh {
		stored[n] = true
	}
	topics := map[string]int{}
	for i, r := range reqs {
		if outcomes[i] != nil {
			continue
		}
		if keyOf[i] != 0 && !stored[keyOf[i]] {
			outcomes[i] = eventsvc.ErrDuplicate
			continue
		}
		for _, m := range r.rows {
			topics[m.topic]++
		}
	}
	b.published(topics)
	return outcomes, nil
}
