package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

// Migrations create the audit_log table and make it append-only: triggers refuse UPDATE and
// DELETE. The hash chain, not the triggers, is what detects tampering by someone who can
// drop them.
var Migrations = []database.Migration{{
	Module:  "audit",
	Version: 1,
	SQL: `CREATE TABLE audit_log (
		id BIGINT PRIMARY KEY,
		message_id TEXT NOT NULL UNIQUE,
		plugin TEXT NOT NULL,
		event_id TEXT NOT NULL,
		severity TEXT NOT NULL,
		status TEXT NOT NULL,
		actor_id TEXT NOT NULL,
		occurred_at BIGINT NOT NULL,
		recorded_at BIGINT NOT NULL,
		record TEXT NOT NULL,
		prev_hash TEXT NOT NULL,
		hash TEXT NOT NULL
	);
	CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
	CREATE INDEX audit_log_event ON audit_log (event_id, id);
	CREATE INDEX audit_log_occurred ON audit_log (occurred_at, id);`,
}, {
	Module:  "audit",
	Version: 2,
	SQLite: `CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
	CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`,
	Postgres: `CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
	CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
		FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
	CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
		FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();`,
}}

// GenesisHash is the previous hash of the first row.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// appendLock is the PostgreSQL advisory lock key that serialises appends across instances
// ("audit-lg" in ASCII).
const appendLock = 0x61756469742d6c67

// Entry is a stored audit record: its place in the chain and the chain's hashes.
type Entry struct {
	// ID is the row's position in the chain, counting from 1.
	ID int64
	// MessageID is the id of the bus event that carried the record; a redelivery with the
	// same id is not stored again.
	MessageID string
	Record
	// RecordedAt is when the row was appended.
	RecordedAt time.Time
	// PrevHash is the previous row's Hash (GenesisHash for the first row).
	PrevHash string
	// Hash is SHA-256 over PrevHash and the row's content; see [Hash].
	Hash string
	// RawRecord is the record's JSON as stored, byte for byte; it is what the hash covers
	// (Record is decoded from it for display).
	RawRecord string
}

// Hash returns the hex SHA-256 of a row: over a version tag, prevHash, and every stored
// column (id, message id, plugin, event id, severity, status, actor id, occurred and
// recorded times in Unix milliseconds, and RawRecord), each written as its length
// (uvarint) and its bytes, so that no two different rows encode alike.
func Hash(prevHash string, e Entry) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	write("stagebus.audit.v1")
	write(prevHash)
	write(strconv.FormatInt(e.ID, 10))
	write(e.MessageID)
	write(e.Plugin)
	write(e.EventID)
	write(e.SeverityLevel)
	write(e.Status)
	write(e.Actor.ActorID)
	write(strconv.FormatInt(e.Timestamp.UnixMilli(), 10))
	write(strconv.FormatInt(e.RecordedAt.UnixMilli(), 10))
	write(e.RawRecord)
	return hex.EncodeToString(h.Sum(nil))
}

// Store is the append-only, hash-chained audit log. It is safe for concurrent use, also by
// several instances sharing the database: appends are serialised in a transaction (a
// PostgreSQL advisory lock; SQLite transactions take the write lock when they begin).
type Store struct {
	db  *database.DB
	log zerolog.Logger
	now func() time.Time
	mu  sync.Mutex // serialises this process's appends before they queue on the database lock
}

// NewStore returns the audit log on db, which must have [Migrations] applied.
func NewStore(db *database.DB, log zerolog.Logger) *Store {
	return &Store{db: db, log: log, now: time.Now}
}

// Append adds rec, carried by the bus event messageID, at the end of the chain. It is
// idempotent: a message id already stored is not appended again (appended is false) and the
// stored entry is returned.
func (s *Store) Append(ctx context.Context, messageID string, rec Record) (entry Entry, appended bool, err error) {
	if messageID == "" {
		return Entry{}, false, errors.New("append audit record: the message id is required")
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return Entry{}, false, fmt.Errorf("append audit record: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Entry{}, false, fmt.Errorf("append audit record: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.db.Dialect() == database.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(appendLock)); err != nil {
			return Entry{}, false, fmt.Errorf("append audit record: lock: %w", err)
		}
	}
	existing, err := scanEntry(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM audit_log WHERE message_id = $1`, messageID))
	switch {
	case err == nil:
		return existing, false, tx.Commit()
	case !errors.Is(err, sql.ErrNoRows):
		return Entry{}, false, fmt.Errorf("append audit record: %w", err)
	}
	e := Entry{ID: 1, MessageID: messageID, Record: rec, RecordedAt: s.now().UTC(), PrevHash: GenesisHash, RawRecord: string(raw)}
	var lastID int64
	var lastHash string
	err = tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&lastID, &lastHash)
	switch {
	case err == nil:
		e.ID, e.PrevHash = lastID+1, lastHash
	case !errors.Is(err, sql.ErrNoRows):
		return Entry{}, false, fmt.Errorf("append audit record: read the chain's end: %w", err)
	}
	e.Hash = Hash(e.PrevHash, e)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+columns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, e.MessageID, e.Plugin, e.EventID, e.SeverityLevel, e.Status, e.Actor.ActorID,
		e.Timestamp.UnixMilli(), e.RecordedAt.UnixMilli(), e.RawRecord, e.PrevHash, e.Hash); err != nil {
		return Entry{}, false, fmt.Errorf("append audit record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, false, fmt.Errorf("append audit record: commit: %w", err)
	}
	return e, true, nil
}

// Pending is a record waiting to be appended, with the id of the message that carries it.
type Pending struct {
	MessageID string
	Record    Record
}

// insertChunk is how many rows one INSERT statement of AppendBatch carries on PostgreSQL
// (12 parameters each, well under its limit).
const insertChunk = 64

// PublishTx stores the events of entries appended in tx, in the same transaction (see
// eventsvc.TxPublisher): committed is called after the commit.
type PublishTx func(tx *sql.Tx, entries []Entry) (committed func(), err error)

// AppendBatch appends records at the end of the chain in one transaction, in order, and
// returns the entries appended. Like [Store.Append] it is idempotent per message id: ids
// already stored, or repeated within items, are skipped. When publish is not nil it stores
// the appended entries' events in the same transaction, last. Either every new row (and its
// event) is committed or none is.
func (s *Store) AppendBatch(ctx context.Context, items []Pending, publish PublishTx) ([]Entry, error) {
	if len(items) == 0 {
		return nil, nil
	}
	entries := make([]Entry, 0, len(items))
	seen := make(map[string]bool, len(items))
	recordedAt := s.now().UTC()
	for _, it := range items {
		if it.MessageID == "" {
			return nil, errors.New("append audit records: a message id is required")
		}
		if seen[it.MessageID] {
			continue
		}
		seen[it.MessageID] = true
		raw, err := json.Marshal(it.Record)
		if err != nil {
			return nil, fmt.Errorf("append audit records: %w", err)
		}
		entries = append(entries, Entry{MessageID: it.MessageID, Record: it.Record, RecordedAt: recordedAt, RawRecord: string(raw)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("append audit records: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.db.Dialect() == database.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(appendLock)); err != nil {
			return nil, fmt.Errorf("append audit records: lock: %w", err)
		}
	}
	stored, err := storedIDs(ctx, tx, entries)
	if err != nil {
		return nil, err
	}
	if len(stored) > 0 {
		fresh := entries[:0]
		for _, e := range entries {
			if !stored[e.MessageID] {
				fresh = append(fresh, e)
			}
		}
		entries = fresh
	}
	prevID, prevHash := int64(0), GenesisHash
	err = tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&prevID, &prevHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("append audit records: read the chain's end: %w", err)
	}
	for i := range entries {
		e := &entries[i]
		e.ID, e.PrevHash = prevID+1, prevHash
		e.Hash = Hash(e.PrevHash, *e)
		prevID, prevHash = e.ID, e.Hash
	}
	if err := insertEntries(ctx, tx, s.db.Dialect(), entries); err != nil {
		return nil, err
	}
	committed := func() {}
	if publish != nil && len(entries) > 0 {
		if committed, err = publish(tx, entries); err != nil {
			return nil, fmt.Errorf("append audit records: store their events: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("append audit records: commit: %w", err)
	}
	committed()
	return entries, nil
}

// insertEntries inserts the rows: on SQLite with one prepared statement (it parses numbered
// placeholders in time quadratic in their number, and a local statement costs no round
// trip), on PostgreSQL in multi-row statements of insertChunk rows.
func insertEntries(ctx context.Context, tx *sql.Tx, dialect database.Dialect, entries []Entry) error {
	if dialect != database.Postgres {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_log (`+columns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`)
		if err != nil {
			return fmt.Errorf("append audit records: %w", err)
		}
		defer stmt.Close()
		for _, e := range entries {
			if _, err := stmt.ExecContext(ctx, e.ID, e.MessageID, e.Plugin, e.EventID, e.SeverityLevel, e.Status, e.Actor.ActorID,
				e.Timestamp.UnixMilli(), e.RecordedAt.UnixMilli(), e.RawRecord, e.PrevHash, e.Hash); err != nil {
				return fmt.Errorf("append audit records: %w", err)
			}
		}
		return nil
	}
	for start := 0; start < len(entries); start += insertChunk {
		chunk := entries[start:min(start+insertChunk, len(entries))]
		var args database.Args
		rows := make([]string, 0, len(chunk))
		for _, e := range chunk {
			rows = append(rows, "("+strings.Join([]string{
				args.Add(e.ID), args.Add(e.MessageID), args.Add(e.Plugin), args.Add(e.EventID), args.Add(e.SeverityLevel),
				args.Add(e.Status), args.Add(e.Actor.ActorID), args.Add(e.Timestamp.UnixMilli()), args.Add(e.RecordedAt.UnixMilli()),
				args.Add(e.RawRecord), args.Add(e.PrevHash), args.Add(e.Hash),
			}, ", ")+")")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+columns+`) VALUES `+strings.Join(rows, ", "), args...); err != nil {
			return fmt.Errorf("append audit records: %w", err)
		}
	}
	return nil
}

// lookupChunk is how many message ids one lookup of storedIDs carries (SQLite parses
// numbered placeholders in time quadratic in their number).
const lookupChunk = 50

// storedIDs returns which of the entries' message ids are already in the table.
func storedIDs(ctx context.Context, tx *sql.Tx, entries []Entry) (map[string]bool, error) {
	stored := map[string]bool{}
	for start := 0; start < len(entries); start += lookupChunk {
		var args database.Args
		marks := make([]string, 0, lookupChunk)
		for _, e := range entries[start:min(start+lookupChunk, len(entries))] {
			marks = append(marks, args.Add(e.MessageID))
		}
		rows, err := tx.QueryContext(ctx, `SELECT message_id FROM audit_log WHERE message_id IN (`+strings.Join(marks, ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("append audit records: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("append audit records: %w", err)
			}
			stored[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("append audit records: %w", err)
		}
	}
	return stored, nil
}

// Stored reports whether a record carried by messageID is in the log. It reads without
// taking the append lock.
func (s *Store) Stored(ctx context.Context, messageID string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM audit_log WHERE message_id = $1`, messageID).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	}
	return false, fmt.Errorf("look up audit record %s: %w", messageID, err)
}

const columns = `id, message_id, plugin, event_id, severity, status, actor_id, occurred_at, recorded_at, record, prev_hash, hash`

type scanner interface{ Scan(dest ...any) error }

// scanEntry reads a row. The record JSON is decoded for display, but the columns stay as
// stored, so that Verify hashes exactly what is in the table.
func scanEntry(row scanner) (Entry, error) {
	var e Entry
	var occurred, recorded int64
	var rec Record
	err := row.Scan(&e.ID, &e.MessageID, &e.Plugin, &e.EventID, &e.SeverityLevel, &e.Status, &e.Actor.ActorID,
		&occurred, &recorded, &e.RawRecord, &e.PrevHash, &e.Hash)
	if err != nil {
		return Entry{}, err
	}
	actorID := e.Actor.ActorID
	if json.Unmarshal([]byte(e.RawRecord), &rec) == nil {
		e.Actor, e.Request, e.Meta, e.Error = rec.Actor, rec.Request, rec.Meta, rec.Error
	}
	e.Actor.ActorID = actorID
	e.Timestamp = time.UnixMilli(occurred).UTC()
	e.RecordedAt = time.UnixMilli(recorded).UTC()
	return e, nil
}

// Handle is the subscription's handler: it appends the event's record, keyed by the event
// id, so that redeliveries are harmless. A payload that is not a record is an error (the bus
// retries it, then dead-letters it).
func (s *Store) Handle(ctx context.Context, e eventsvc.Event) error {
	// The writer ([Writer]) publishes the rows it has committed: most events arrive here
	// already stored, and a read tells so without queueing on the append lock.
	if stored, err := s.Stored(ctx, e.ID); err != nil {
		return err
	} else if stored {
		return nil
	}
	rec, err := ParseRecord(e.Payload)
	if err != nil {
		return fmt.Errorf("audit event %s: %w", e.ID, err)
	}
	if rec.Timestamp.IsZero() {
		rec.Timestamp = e.Time
	}
	entry, appended, err := s.Append(ctx, e.ID, rec)
	if err != nil {
		return err
	}
	if !appended {
		zerolog.Ctx(ctx).Debug().Int64("audit_id", entry.ID).Msg("audit record already stored; redelivery ignored")
	}
	return nil
}

// Subscription declares the audit log's subscription to [Topic] under [SubscriptionID].
func (s *Store) Subscription() eventsvc.Subscription {
	return eventsvc.Subscription{ID: SubscriptionID, Topics: []string{Topic}, Handler: s.Handle}
}

// Filter selects audit entries; empty fields match everything.
type Filter struct {
	Actor   string
	EventID string
	Status  string
	// From and To bound the record's timestamp: From ≤ t < To.
	From, To time.Time
	// Limit is the page size (default 50, at most 500).
	Limit int
	// Cursor continues after the last entry of the previous page.
	Cursor string
}

// Page is one page of entries, newest first.
type Page struct {
	Items      []Entry
	TotalItems int
	NextCursor string
}

// ErrBadCursor means a cursor this store did not produce.
var ErrBadCursor = errors.New("invalid cursor")

// List returns a page of entries, newest first.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var where []string
	var args database.Args
	if f.Actor != "" {
		where = append(where, "actor_id = "+args.Add(f.Actor))
	}
	if f.EventID != "" {
		where = append(where, "event_id = "+args.Add(f.EventID))
	}
	if f.Status != "" {
		where = append(where, "status = "+args.Add(f.Status))
	}
	if !f.From.IsZero() {
		where = append(where, "occurred_at >= "+args.Add(f.From.UnixMilli()))
	}
	if !f.To.IsZero() {
		where = append(where, "occurred_at < "+args.Add(f.To.UnixMilli()))
	}
	var page Page
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log`+database.Where(where), args...).Scan(&page.TotalItems); err != nil {
		return Page{}, fmt.Errorf("count audit entries: %w", err)
	}
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		after, perr := strconv.ParseInt(string(b), 10, 64)
		if err != nil || perr != nil || after < 1 {
			return Page{}, ErrBadCursor
		}
		where = append(where, "id < "+args.Add(after))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM audit_log`+database.Where(where)+` ORDER BY id DESC LIMIT `+args.Add(f.Limit+1), args...)
	if err != nil {
		return Page{}, fmt.Errorf("list audit entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return Page{}, fmt.Errorf("list audit entries: %w", err)
		}
		page.Items = append(page.Items, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list audit entries: %w", err)
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(page.Items[f.Limit-1].ID, 10)))
	}
	return page, nil
}

// VerifyResult is the outcome of checking the chain.
type VerifyResult struct {
	// OK is true when every row links to the one before and hashes to its stored hash.
	OK bool `json:"ok"`
	// Checked counts the rows examined: all of them when OK, else up to and including the
	// first broken one.
	Checked int64 `json:"checked"`
	// FirstBrokenID is the id of the first row that does not verify, or nil.
	FirstBrokenID *int64 `json:"firstBrokenId"`
	// Reason says what is wrong with that row.
	Reason string `json:"reason,omitempty"`
}

// verifyBatch is how many rows Verify reads at a time.
const verifyBatch = 500

// Verify checks the whole chain in id order: ids count from 1 without gaps, each row's
// prev_hash is the previous row's hash, and each row's hash matches its content ([Hash]).
// It reports the first row that fails. The chain alone cannot show that rows were removed
// from its end, or that every row from some point on was rewritten and re-hashed; each
// checkpoint kept outside the database closes that gap up to its row: the log must have at
// least cp.Rows rows, and row cp.Rows must have cp.Hash.
func Verify(ctx context.Context, db *database.DB, checkpoints ...Checkpoint) (VerifyResult, error) {
	var res VerifyResult
	prevID, prevHash := int64(0), GenesisHash
	broken := func(id int64, reason string) (VerifyResult, error) {
		res.OK, res.FirstBrokenID, res.Reason = false, &id, reason
		return res, nil
	}
	at := map[int64][]Checkpoint{}
	for _, cp := range checkpoints {
		at[cp.Rows] = append(at[cp.Rows], cp)
	}
	for {
		rows, err := db.QueryContext(ctx, `SELECT `+columns+` FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2`, prevID, verifyBatch)
		if err != nil {
			return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
		}
		var batch []Entry
		for rows.Next() {
			e, err := scanEntry(rows)
			if err != nil {
				rows.Close()
				return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
			}
			batch = append(batch, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
		}
		for _, e := range batch {
			res.Checked++
			switch {
			case e.ID != prevID+1:
				return broken(e.ID, fmt.Sprintf("rows %d to %d are missing", prevID+1, e.ID-1))
			case e.PrevHash != prevHash:
				return broken(e.ID, "prev_hash does not match the previous row's hash")
			case Hash(e.PrevHash, e) != e.Hash:
				return broken(e.ID, "the row's content does not match its hash (edited)")
			}
			for _, cp := range at[e.ID] {
				if cp.Hash != e.Hash {
					return broken(e.ID, fmt.Sprintf("the row's hash differs from checkpoint %s (rows up to %d were rewritten)", cp, e.ID))
				}
			}
			prevID, prevHash = e.ID, e.Hash
		}
		if len(batch) < verifyBatch {
			break
		}
	}
	for _, cp := range checkpoints {
		if cp.Rows > prevID {
			return broken(prevID+1, fmt.Sprintf("checkpoint %s recorded %d rows, the log has %d (truncated)", cp, cp.Rows, prevID))
		}
	}
	res.OK = true
	return res, nil
}
