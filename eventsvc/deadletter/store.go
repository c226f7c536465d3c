package deadletter

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/internal/background"
)

// Config is events.deadLetters.
type Config struct {
	// Retention is how long dead letters are kept (default 14d).
	Retention time.Duration `yaml:"retention"`
}

// SetDefaults keeps dead letters 14 days.
func (c *Config) SetDefaults() { c.Retention = 14 * 24 * time.Hour }

// Validate requires at least an hour.
func (c Config) Validate() error {
	if c.Retention < time.Hour {
		return config.Fieldf("retention", "must be at least 1h, got %s", c.Retention)
	}
	return nil
}

// Migrations create the dead-letter table and, in version 2, the index that finds an event's
// dead letters (ByEvent).
var Migrations = []database.Migration{{
	Module:  "deadletter",
	Version: 1,
	SQLite: `CREATE TABLE event_dead_letters (
		id TEXT PRIMARY KEY,
		subscription_id TEXT NOT NULL,
		topic TEXT NOT NULL,
		event_id TEXT NOT NULL,
		event_key TEXT NOT NULL,
		event_time BIGINT NOT NULL,
		payload BLOB NOT NULL,
		metadata TEXT NOT NULL,
		error TEXT NOT NULL,
		attempts INTEGER NOT NULL,
		failed_at BIGINT NOT NULL
	);
	CREATE INDEX event_dead_letters_failed ON event_dead_letters (failed_at, id);
	CREATE INDEX event_dead_letters_sub ON event_dead_letters (subscription_id, topic, failed_at);`,
	Postgres: `CREATE TABLE event_dead_letters (
		id TEXT PRIMARY KEY,
		subscription_id TEXT NOT NULL,
		topic TEXT NOT NULL,
		event_id TEXT NOT NULL,
		event_key TEXT NOT NULL,
		event_time BIGINT NOT NULL,
		payload BYTEA NOT NULL,
		metadata TEXT NOT NULL,
		error TEXT NOT NULL,
		attempts INTEGER NOT NULL,
		failed_at BIGINT NOT NULL
	);
	CREATE INDEX event_dead_letters_failed ON event_dead_letters (failed_at, id);
	CREATE INDEX event_dead_letters_sub ON event_dead_letters (subscription_id, topic, failed_at);`,
}, {
	Module:  "deadletter",
	Version: 2,
	SQL:     `CREATE INDEX event_dead_letters_event ON event_dead_letters (event_id)`,
}}

// Record is a stored dead letter.
type Record struct {
	ID string
	eventsvc.DeadLetter
}

// ErrNotFound means no dead letter has the id.
var ErrNotFound = errors.New("dead letter not found")

// Store is the dead-letter store. It implements eventsvc.DeadLetterStore.
type Store struct {
	db        *database.DB
	retention time.Duration
	log       zerolog.Logger
	// purger removes expired dead letters between Start and Stop.
	purger *background.Loop
}

var _ eventsvc.DeadLetterStore = (*Store)(nil)

// purgeTimeout bounds one purge.
const purgeTimeout = time.Minute

// NewStore returns a store on db. Failed purges are counted on reg (loop
// events.deadLetters.purge); reg may be nil.
func NewStore(db *database.DB, cfg Config, log zerolog.Logger, reg prometheus.Registerer) *Store {
	s := &Store{db: db, retention: cfg.Retention, log: log}
	s.purger = background.New("events.deadLetters.purge", s.purgeInterval(), s.purgeExpired,
		background.Immediately(), background.WithTimeout(purgeTimeout), background.WithLogger(log), background.WithRegisterer(reg))
	return s
}

// Add stores a dead letter.
func (s *Store) Add(ctx context.Context, d eventsvc.DeadLetter) error {
	meta, err := json.Marshal(d.Event.Metadata)
	if err != nil {
		return fmt.Errorf("dead letter metadata: %w", err)
	}
	payload := d.Event.Payload
	if payload == nil {
		payload = []byte{}
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO event_dead_letters
		(id, subscription_id, topic, event_id, event_key, event_time, payload, metadata, error, attempts, failed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		uuid.NewString(), d.Subscription, d.Topic, d.Event.ID, d.Event.Key, d.Event.Time.UnixNano(),
		payload, string(meta), d.Error, d.Attempts, d.FailedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("store dead letter of %s for %s: %w", d.Event.ID, d.Subscription, err)
	}
	return nil
}

const columns = `id, subscription_id, topic, event_id, event_key, event_time, payload, metadata, error, attempts, failed_at`

type scanner interface{ Scan(dest ...any) error }

func scan(row scanner) (Record, error) {
	var r Record
	var eventTime, failedAt int64
	var meta string
	err := row.Scan(&r.ID, &r.Subscription, &r.Topic, &r.Event.ID, &r.Event.Key, &eventTime,
		&r.Event.Payload, &meta, &r.Error, &r.Attempts, &failedAt)
	if err != nil {
		return Record{}, err
	}
	r.Event.Topic = r.Topic
	r.Event.Time = time.Unix(0, eventTime).UTC()
	r.FailedAt = time.UnixMilli(failedAt).UTC()
	if err := json.Unmarshal([]byte(meta), &r.Event.Metadata); err != nil {
		return Record{}, fmt.Errorf("dead letter %s: metadata: %w", r.ID, err)
	}
	return r, nil
}

// Get returns the dead letter with the id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Record, error) {
	r, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM event_dead_letters WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	return r, err
}

// Filter selects dead letters; empty fields match everything.
type Filter struct {
	Topic        string
	Subscription string
	// Limit is the page size (default 50, at most 500).
	Limit int
	// Cursor continues after the last record of the previous page.
	Cursor string
}

// Page is one page of dead letters, newest first.
type Page struct {
	Items      []Record
	TotalItems int
	NextCursor string
}

// ErrBadCursor means a cursor that this store did not produce.
var ErrBadCursor = errors.New("invalid cursor")

// List returns a page of dead letters, newest first.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var where []string
	var args database.Args
	if f.Topic != "" {
		where = append(where, "topic = "+args.Add(f.Topic))
	}
	if f.Subscription != "" {
		where = append(where, "subscription_id = "+args.Add(f.Subscription))
	}
	var page Page
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM event_dead_letters`+database.Where(where), args...).Scan(&page.TotalItems); err != nil {
		return Page{}, fmt.Errorf("count dead letters: %w", err)
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		a, b, c := args.Add(at), args.Add(at), args.Add(id)
		where = append(where, fmt.Sprintf("(failed_at < %s OR (failed_at = %s AND id < %s))", a, b, c))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM event_dead_letters`+database.Where(where)+
		` ORDER BY failed_at DESC, id DESC LIMIT `+args.Add(f.Limit+1), args...)
	if err != nil {
		return Page{}, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return Page{}, err
		}
		page.Items = append(page.Items, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list dead letters: %w", err)
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		last := page.Items[f.Limit-1]
		page.NextCursor = encodeCursor(last.FailedAt.UnixMilli(), last.ID)
	}
	return page, nil
}

func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	at, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", ErrBadCursor
	}
	return n, id, nil
}

// Count returns how many dead letters are kept.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM event_dead_letters`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// maxByEvent bounds ByEvent: an event has a dead letter per subscription that gave up on it.
const maxByEvent = 500

// ByEvent returns the dead letters of the event with the id, newest first, at most 500: one
// per subscription that gave up on it, of every topic the id was published on (a webhook's
// event and its sub-topic event share the id; tell them apart by Topic).
func (s *Store) ByEvent(ctx context.Context, eventID string) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM event_dead_letters WHERE event_id = $1
		ORDER BY failed_at DESC, id DESC LIMIT $2`, eventID, maxByEvent)
	if err != nil {
		return nil, fmt.Errorf("dead letters of %s: %w", eventID, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dead letters of %s: %w", eventID, err)
	}
	return out, nil
}

// Delete removes a dead letter; ErrNotFound when there is none.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM event_dead_letters WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete dead letter %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Purge removes dead letters that failed before t and returns how many.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM event_dead_letters WHERE failed_at < $1`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return res.RowsAffected()
}

// purgeInterval runs the purge 24 times per retention period, at most hourly.
func (s *Store) purgeInterval() time.Duration {
	return min(max(s.retention/24, time.Minute), time.Hour)
}

// purgeExpired is one iteration of the purge schedule.
func (s *Store) purgeExpired(ctx context.Context) error {
	n, err := s.Purge(ctx, time.Now().Add(-s.retention))
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info().Int64("purged", n).Msg("expired dead letters purged")
	}
	return nil
}

// Start purges expired dead letters now and then on a schedule, in the background, until
// Stop.
func (s *Store) Start(ctx context.Context) error { return s.purger.Start(ctx) }

// Stop ends the purge schedule: a purge under way is cancelled, and Stop waits for it until
// ctx ends, no longer.
func (s *Store) Stop(ctx context.Context) error { return s.purger.Stop(ctx) }
