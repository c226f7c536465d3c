package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

// Topics of the change stream.
const (
	TopicEntityUpserted = "catalog.entity.upserted"
	TopicEntityDeleted  = "catalog.entity.deleted"
)

// Migrations create the catalog tables.
var Migrations = []database.Migration{{
	Module:  "catalog",
	Version: 1,
	SQL: `CREATE TABLE catalog_entities (
		entity_ref TEXT PRIMARY KEY,
		uid TEXT NOT NULL UNIQUE,
		etag TEXT NOT NULL,
		provider TEXT NOT NULL,
		location_key TEXT NOT NULL,
		body TEXT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE INDEX catalog_entities_provider ON catalog_entities (provider);
	CREATE TABLE catalog_relations (
		source_ref TEXT NOT NULL,
		type TEXT NOT NULL,
		target_ref TEXT NOT NULL,
		PRIMARY KEY (source_ref, type, target_ref)
	);
	CREATE INDEX catalog_relations_target ON catalog_relations (target_ref, type);
	CREATE TABLE catalog_search (
		entity_ref TEXT NOT NULL,
		key TEXT NOT NULL,
		value TEXT,
		original_value TEXT
	);
	CREATE INDEX catalog_search_key_value ON catalog_search (key, value, entity_ref);
	CREATE INDEX catalog_search_entity ON catalog_search (entity_ref, key);
	CREATE TABLE catalog_locations (
		id TEXT PRIMARY KEY,
		type TEXT NOT NULL,
		target TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		UNIQUE (type, target)
	)`,
}, {
	// The ref's parts as columns, so that filters and order on kind, namespace and name use
	// indexes instead of the search table (covering, to check candidates without reading
	// their bodies); and a covering (entity_ref, key, value) index for ordering by other
	// fields.
	Module:  "catalog",
	Version: 2,
	SQLite: `ALTER TABLE catalog_entities ADD COLUMN kind TEXT NOT NULL DEFAULT '';
	ALTER TABLE catalog_entities ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
	ALTER TABLE catalog_entities ADD COLUMN name TEXT NOT NULL DEFAULT '';
	UPDATE catalog_entities SET
		kind = substr(entity_ref, 1, instr(entity_ref, ':') - 1),
		namespace = substr(entity_ref, instr(entity_ref, ':') + 1, instr(entity_ref, '/') - instr(entity_ref, ':') - 1),
		name = substr(entity_ref, instr(entity_ref, '/') + 1);
	CREATE INDEX catalog_entities_kind_name ON catalog_entities (kind, name);
	CREATE INDEX catalog_entities_ref_parts ON catalog_entities (entity_ref, kind, namespace, name);
	DROP INDEX catalog_search_entity;
	CREATE INDEX catalog_search_entity_key ON catalog_search (entity_ref, key, value);`,
	Postgres: `ALTER TABLE catalog_entities ADD COLUMN kind TEXT NOT NULL DEFAULT '';
	ALTER TABLE catalog_entities ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
	ALTER TABLE catalog_entities ADD COLUMN name TEXT NOT NULL DEFAULT '';
	UPDATE catalog_entities SET
		kind = split_part(entity_ref, ':', 1),
		namespace = split_part(split_part(entity_ref, ':', 2), '/', 1),
		name = split_part(entity_ref, '/', 2);
	CREATE INDEX catalog_entities_kind_name ON catalog_entities (kind, name);
	CREATE INDEX catalog_entities_ref_parts ON catalog_entities (entity_ref, kind, namespace, name);
	DROP INDEX catalog_search_entity;
	CREATE INDEX catalog_search_entity_key ON catalog_search (entity_ref, key, value);`,
}, {
	// Where a location comes from (the API, or catalog.locations, which the location routes
	// do not serve, as in Backstage), and the name of the Location entity that stands for it,
	// kept when its target changes.
	Module:  "catalog",
	Version: 3,
	SQL: `ALTER TABLE catalog_locations ADD COLUMN origin TEXT NOT NULL DEFAULT 'api';
	UPDATE catalog_locations SET origin = 'config' WHERE id LIKE 'config-%';
	ALTER TABLE catalog_locations ADD COLUMN entity_name TEXT NOT NULL DEFAULT ''`,
}}

// MutationType is full or delta.
type MutationType string

// The mutation types, as in Backstage's EntityProviderConnection.applyMutation.
const (
	// Full replaces everything the provider owns.
	Full MutationType = "full"
	// Delta adds (or updates) and removes entities; others the provider owns stay.
	Delta MutationType = "delta"
)

// DeferredEntity is an entity a provider provides, with the location it came from.
type DeferredEntity struct {
	Entity      Entity
	LocationKey string
}

// Mutation is what a provider applies.
type Mutation struct {
	Type     MutationType
	Entities []DeferredEntity
	// Removed are entity refs to remove (delta only).
	Removed []string
}

// Conflict is an entity a provider tried to provide while another provider owns it.
type Conflict struct {
	EntityRef string
	Owner     string
}

// Result reports what a mutation did.
type Result struct {
	Upserted  []string
	Deleted   []string
	Unchanged int
	Conflicts []Conflict
	// Invalid are the entities refused by validation; the rest of the mutation applied.
	Invalid []error
}

// Store keeps the catalog in the database and publishes its changes in the same
// transaction (through the bus's outbox): a change is committed with its events or not at
// all, and an outage of the bus delays the events without losing them.
type Store struct {
	db    *database.DB
	pub   eventsvc.TxPublisher
	model Model
	log   zerolog.Logger
	now   func() time.Time
}

// NewStore returns a store on db that publishes changes with pub, in its transactions.
func NewStore(db *database.DB, pub eventsvc.TxPublisher, model Model, log zerolog.Logger) *Store {
	return &Store{db: db, pub: pub, model: model, log: log, now: time.Now}
}

// Model returns the validators and parser in force.
func (s *Store) Model() Model { return s.model }

// prepared is an entity ready to store.
type prepared struct {
	ref         string
	entity      Entity
	body        string
	etag        string
	locationKey string
	relations   []Relation
	search      []searchRow
}

// prepare validates and normalises an entity: metadata.namespace is filled in, and an entity
// read from a location (a location key type:target) is annotated with it and, for a url, with
// where to view and edit its source, as Backstage's processing does.
func (s *Store) prepare(d DeferredEntity) (prepared, error) {
	e := d.Entity
	e.Metadata.UID, e.Metadata.Etag, e.Relations = "", "", nil
	if e.Metadata.Namespace == "" {
		e.Metadata.Namespace = DefaultNamespace
	}
	if isLocationRef(d.LocationKey) {
		e.Metadata.Annotations = maps.Clone(e.Metadata.Annotations)
		if e.Metadata.Annotations == nil {
			e.Metadata.Annotations = map[string]string{}
		}
		e.Metadata.Annotations[AnnotationManagedByLocation] = d.LocationKey
		e.Metadata.Annotations[AnnotationManagedByOriginLocation] = d.LocationKey
		if target, ok := strings.CutPrefix(d.LocationKey, LocationURL+":"); ok {
			for k, v := range sourceAnnotations(target) {
				if _, set := e.Metadata.Annotations[k]; !set { // the file's own values win
					e.Metadata.Annotations[k] = v
				}
			}
		}
	}
	if err := s.model.Validators.Validate(e); err != nil {
		return prepared{}, err
	}
	rows, err := searchRows(e)
	if err != nil {
		return prepared{}, err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return prepared{}, err
	}
	sum := sha256.Sum256(append(body, d.LocationKey...))
	return prepared{
		ref: e.Ref().String(), entity: e, body: string(body), etag: hex.EncodeToString(sum[:10]),
		locationKey: d.LocationKey, relations: deriveRelations(e), search: rows,
	}, nil
}

type existing struct {
	provider, uid, etag string
}

// ApplyMutation applies a provider's mutation and publishes its changes in one transaction. Entities that fail validation are reported in Result.Invalid and skipped; an
// entity owned by another provider is reported in Result.Conflicts and left alone.
func (s *Store) ApplyMutation(ctx context.Context, provider string, m Mutation) (Result, error) {
	var res Result
	incoming := make([]prepared, 0, len(m.Entities))
	seen := map[string]bool{}
	for _, d := range m.Entities {
		p, err := s.prepare(d)
		if err != nil {
			res.Invalid = append(res.Invalid, err)
			continue
		}
		if seen[p.ref] {
			res.Invalid = append(res.Invalid, fmt.Errorf("entity %s is provided twice in one mutation", p.ref))
			continue
		}
		seen[p.ref] = true
		incoming = append(incoming, p)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) ([]eventsvc.Event, error) {
		var upserted []Entity
		var deleted []deletedEntity
		known, err := s.existing(ctx, tx, provider, m.Type == Full, incoming, m.Removed)
		if err != nil {
			return nil, err
		}
		now := s.now().UnixMilli()
		keep := map[string]bool{}
		for _, p := range incoming {
			ex, found := known[p.ref]
			if found && ex.provider != provider {
				res.Conflicts = append(res.Conflicts, Conflict{EntityRef: p.ref, Owner: ex.provider})
				continue
			}
			keep[p.ref] = true
			if found && ex.etag == p.etag {
				res.Unchanged++
				continue
			}
			uid := ex.uid
			if !found {
				uid = uuid.NewString()
			}
			if err := s.write(ctx, tx, provider, uid, p, now, found); err != nil {
				return nil, err
			}
			e := p.entity
			e.Metadata.UID, e.Metadata.Etag, e.Relations = uid, p.etag, p.relations
			upserted = append(upserted, e)
			res.Upserted = append(res.Upserted, p.ref)
		}
		var remove []string
		switch m.Type {
		case Full:
			for ref, ex := range known {
				if ex.provider == provider && !keep[ref] {
					remove = append(remove, ref)
				}
			}
		case Delta:
			for _, r := range m.Removed {
				ref, err := ParseRef(r, "", DefaultNamespace)
				if err != nil {
					res.Invalid = append(res.Invalid, err)
					continue
				}
				if ex, ok := known[ref.String()]; ok && ex.provider == provider && !keep[ref.String()] {
					remove = append(remove, ref.String())
				}
			}
		default:
			return nil, fmt.Errorf("unknown mutation type %q", m.Type)
		}
		for _, ref := range remove {
			if err := s.remove(ctx, tx, ref); err != nil {
				return nil, err
			}
			deleted = append(deleted, deletedEntity{EntityRef: ref, UID: known[ref].uid})
			res.Deleted = append(res.Deleted, ref)
		}
		return changeEvents(upserted, deleted)
	})
	if err != nil {
		return Result{}, fmt.Errorf("catalog: apply %s mutation of %s: %w", m.Type, provider, err)
	}
	for _, c := range res.Conflicts {
		s.log.Warn().Str("entity", c.EntityRef).Str("provider", provider).Str("owner", c.Owner).Msg("entity is provided by another provider; kept with its first owner")
	}
	for _, err := range res.Invalid {
		s.log.Warn().Err(err).Str("provider", provider).Msg("entity refused")
	}
	return res, nil
}

type deletedEntity struct {
	EntityRef string `json:"entityRef"`
	UID       string `json:"uid"`
}

// existing loads what the database knows of the refs concerned (and, for a full mutation,
// everything the provider owns).
func (s *Store) existing(ctx context.Context, tx *sql.Tx, provider string, full bool, incoming []prepared, removed []string) (map[string]existing, error) {
	out := map[string]existing{}
	scan := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var ref string
			var ex existing
			if err := rows.Scan(&ref, &ex.provider, &ex.uid, &ex.etag); err != nil {
				return err
			}
			out[ref] = ex
		}
		return rows.Err()
	}
	if full {
		rows, err := tx.QueryContext(ctx, `SELECT entity_ref, provider, uid, etag FROM catalog_entities WHERE provider = $1`, provider)
		if err != nil {
			return nil, err
		}
		if err := scan(rows); err != nil {
			return nil, err
		}
	}
	refs := make([]string, 0, len(incoming)+len(removed))
	for _, p := range incoming {
		refs = append(refs, p.ref)
	}
	for _, r := range removed {
		if ref, err := ParseRef(r, "", DefaultNamespace); err == nil {
			refs = append(refs, ref.String())
		}
	}
	for start := 0; start < len(refs); start += 500 {
		chunk := refs[start:min(start+500, len(refs))]
		q, args := inList(`SELECT entity_ref, provider, uid, etag FROM catalog_entities WHERE entity_ref IN `, chunk, 1)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		if err := scan(rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// write inserts or updates one entity with its relations and search rows.
func (s *Store) write(ctx context.Context, tx *sql.Tx, provider, uid string, p prepared, now int64, update bool) error {
	if update {
		if _, err := tx.ExecContext(ctx, `UPDATE catalog_entities SET etag = $1, location_key = $2, body = $3, updated_at = $4 WHERE entity_ref = $5`,
			p.etag, p.locationKey, p.body, now, p.ref); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM catalog_relations WHERE source_ref = $1`, `DELETE FROM catalog_search WHERE entity_ref = $1`} {
			if _, err := tx.ExecContext(ctx, q, p.ref); err != nil {
				return err
			}
		}
	} else {
		r := p.entity.Ref()
		if _, err := tx.ExecContext(ctx, `INSERT INTO catalog_entities (entity_ref, uid, etag, provider, location_key, body, updated_at, kind, namespace, name)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			p.ref, uid, p.etag, provider, p.locationKey, p.body, now,
			strings.ToLower(r.Kind), strings.ToLower(r.Namespace), strings.ToLower(r.Name)); err != nil {
			return err
		}
	}
	for _, r := range p.relations {
		if _, err := tx.ExecContext(ctx, `INSERT INTO catalog_relations (source_ref, type, target_ref) VALUES ($1, $2, $3)`, p.ref, r.Type, r.TargetRef); err != nil {
			return err
		}
	}
	return s.insertSearch(ctx, tx, p.ref, p.search)
}

// insertSearch writes search rows in multi-row statements.
func (s *Store) insertSearch(ctx context.Context, tx *sql.Tx, ref string, rows []searchRow) error {
	const per = 100
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var b strings.Builder
		b.WriteString(`INSERT INTO catalog_search (entity_ref, key, value, original_value) VALUES `)
		args := make([]any, 0, 1+3*len(chunk))
		args = append(args, ref)
		for i, r := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "($1, $%d, $%d, $%d)", len(args)+1, len(args)+2, len(args)+3)
			if r.valid {
				args = append(args, r.key, r.value, r.original)
			} else {
				args = append(args, r.key, nil, nil)
			}
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) remove(ctx context.Context, tx *sql.Tx, ref string) error {
	for _, q := range []string{
		`DELETE FROM catalog_entities WHERE entity_ref = $1`,
		`DELETE FROM catalog_relations WHERE source_ref = $1`,
		`DELETE FROM catalog_search WHERE entity_ref = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, ref); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in a transaction and stores the change events it returns in the same
// transaction, last (see eventsvc.TxPublisher); after the commit it wakes their readers.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) ([]eventsvc.Event, error)) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	events, err := fn(tx)
	if err != nil {
		return err
	}
	committed := func() {}
	if len(events) > 0 {
		if committed, err = s.pub.PublishTx(ctx, tx, events...); err != nil {
			return fmt.Errorf("catalog: store the change events: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	committed()
	return nil
}

// changeEvents are the events of the changes on the change stream: the upserted entities
// whole, the deleted ones by ref and uid.
func changeEvents(upserted []Entity, deleted []deletedEntity) ([]eventsvc.Event, error) {
	events := make([]eventsvc.Event, 0, len(upserted)+len(deleted))
	for _, e := range upserted {
		body, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("catalog: encode the change of %s: %w", e.Ref(), err)
		}
		events = append(events, eventsvc.Event{Topic: TopicEntityUpserted, Key: e.Ref().String(), Payload: body, Metadata: map[string]string{"entity_ref": e.Ref().String(), "content-type": "application/json"}})
	}
	for _, d := range deleted {
		body, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("catalog: encode the deletion of %s: %w", d.EntityRef, err)
		}
		events = append(events, eventsvc.Event{Topic: TopicEntityDeleted, Key: d.EntityRef, Payload: body, Metadata: map[string]string{"entity_ref": d.EntityRef, "content-type": "application/json"}})
	}
	return events, nil
}

// inList appends "($first, $first+1, …)" for values to prefix.
func inList(prefix string, values []string, first int) (string, []any) {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('(')
	args := make([]any, len(values))
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", first+i)
		args[i] = v
	}
	b.WriteByte(')')
	return b.String(), args
}

// ErrNotFound means no entity (or location) matches.
var ErrNotFound = errors.New("not found")

// DeleteByUID removes an entity whatever its provider (a provider that still provides it
// brings it back at its next full mutation, as in Backstage).
func (s *Store) DeleteByUID(ctx context.Context, uid string) error {
	return s.inTx(ctx, func(tx *sql.Tx) ([]eventsvc.Event, error) {
		var ref string
		if err := tx.QueryRowContext(ctx, `SELECT entity_ref FROM catalog_entities WHERE uid = $1`, uid).Scan(&ref); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, ErrNotFound
			}
			return nil, err
		}
		if err := s.remove(ctx, tx, ref); err != nil {
			return nil, err
		}
		return changeEvents(nil, []deletedEntity{{EntityRef: ref, UID: uid}})
	})
}

// ProvidedBy returns the entities a provider provides, Location entities first, then by ref.
func (s *Store) ProvidedBy(ctx context.Context, provider string) ([]Entity, error) {
	refs, err := s.refs(ctx, `SELECT entity_ref FROM catalog_entities WHERE provider = $1 ORDER BY kind <> 'location', entity_ref`, provider)
	if err != nil {
		return nil, err
	}
	return s.byRefsInOrder(ctx, refs)
}

// owners returns the provider of each of the canonical refs that is stored.
func (s *Store) owners(ctx context.Context, refs []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(refs); start += 400 {
		chunk := refs[start:min(start+400, len(refs))]
		q, args := inList(`SELECT entity_ref, provider FROM catalog_entities WHERE entity_ref IN `, chunk, 1)
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var ref, provider string
			if err := rows.Scan(&ref, &provider); err != nil {
				rows.Close()
				return nil, err
			}
			out[ref] = provider
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// provenance returns the provider of an entity and the location key it was provided with, or
// ErrNotFound.
func (s *Store) provenance(ctx context.Context, ref EntityRef) (provider, key string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT provider, location_key FROM catalog_entities WHERE entity_ref = $1`, ref.String()).Scan(&provider, &key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("%w: no entity %s", ErrNotFound, ref)
	}
	return provider, key, err
}

// refsWithKey returns the refs of a provider's entities provided with exactly this location
// key.
func (s *Store) refsWithKey(ctx context.Context, provider, key string) ([]string, error) {
	return s.refs(ctx, `SELECT entity_ref FROM catalog_entities WHERE provider = $1 AND location_key = $2 ORDER BY entity_ref`, provider, key)
}

// LocationRefs returns the refs of a provider's entities whose location key starts with
// prefix (a whole key is its own prefix): what a provider has from one file, or one
// repository.
func (s *Store) LocationRefs(ctx context.Context, provider, prefix string) ([]string, error) {
	return s.refs(ctx, `SELECT entity_ref FROM catalog_entities WHERE provider = $1 AND substr(location_key, 1, length($2)) = $2 ORDER BY entity_ref`, provider, prefix)
}
