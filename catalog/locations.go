package catalog

import (
	"context"
	"crypto/sha1" //nolint:gosec // Backstage's name for generated Location entities, not a security use
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/internal/background"
)

// Reader reads the data of url locations of the hosts it knows (providers/github contributes
// one for integrations.github).
type Reader interface {
	// Reads reports whether the reader handles the URL.
	Reads(target string) bool
	// Read returns the data at the URL.
	Read(ctx context.Context, target string) ([]byte, error)
}

// AsReader annotates a constructor returning a Reader so that it joins the "catalog.readers"
// group.
func AsReader(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"catalog.readers"`))
}

// Location types.
const (
	LocationFile = "file"
	LocationURL  = "url"
)

// LocationConfig is one entry of catalog.locations.
type LocationConfig struct {
	Type   string `yaml:"type"`
	Target string `yaml:"target"`
}

// Validate checks the type and target.
func (c LocationConfig) Validate() error {
	if c.Type != LocationFile && c.Type != LocationURL {
		return fmt.Errorf("type must be file or url, got %q", c.Type)
	}
	if c.Target == "" {
		return errors.New("target is required")
	}
	return nil
}

// Errors of location operations.
var (
	ErrLocationExists = errors.New("location already exists")
	// ErrLocationConfigured refuses to register (or move a location to) a target that
	// catalog.locations already reads.
	ErrLocationConfigured = errors.New("this location is read from catalog.locations already")
	ErrNoReader           = errors.New("no integration can read this location")
	// ErrUnreadable wraps the failure to fetch a location's data (a file, a URL).
	ErrUnreadable       = errors.New("cannot read the location")
	ErrLocationType     = errors.New("unsupported location type")
	ErrInvalidEntities  = errors.New("the location holds invalid entities")
	ErrEntitiesConflict = errors.New("the location provides entities that another location or provider owns")
)

// Locations reads locations into the catalog: each location is a provider ("location:<id>")
// that owns the entities its data holds.
type Locations struct {
	store     *Store
	readers   []Reader
	analyzers []Analyzer
	baseDir   string
	log       zerolog.Logger

	configured []LocationConfig
	// pending are the configured locations not read yet; only the loop uses it.
	pending []LocationConfig
	// loop reads the pending locations, now and every locationRetry, until none is left.
	loop *background.Loop
}

// Reading configured locations: each read may take locationTimeout; those that fail are
// read again after locationRetry.
const (
	locationTimeout = time.Minute
	locationRetry   = time.Minute
)

// NewLocations returns the location service, reading url locations with readers and analyzing
// repositories with analyzers; file targets are relative to baseDir. Failed
// reads of configured locations are counted on reg (loop catalog.locations); reg may be nil.
func NewLocations(store *Store, readers []Reader, analyzers []Analyzer, configured []LocationConfig, baseDir string, log zerolog.Logger, reg prometheus.Registerer) *Locations {
	l := &Locations{
		store: store, readers: readers, analyzers: analyzers, configured: configured, baseDir: baseDir, log: log,
		pending: append([]LocationConfig(nil), configured...),
	}
	l.loop = background.New("catalog.locations", locationRetry, l.readPending,
		background.Immediately(), background.WithLogger(log), background.WithRegisterer(reg))
	return l
}

func providerOf(id string) string { return "location:" + id }

// read fetches and parses a location's entities.
func (l *Locations) read(ctx context.Context, loc Location) ([]Entity, error) {
	var data []byte
	var err error
	switch loc.Type {
	case LocationFile:
		path := loc.Target
		if !filepath.IsAbs(path) {
			path = filepath.Join(l.baseDir, path)
		}
		data, err = os.ReadFile(path)
	case LocationURL:
		err = fmt.Errorf("%w: %s; add its host to integrations.github", ErrNoReader, loc.Target)
		for _, r := range l.readers {
			if r.Reads(loc.Target) {
				data, err = r.Read(ctx, loc.Target)
				break
			}
		}
	default:
		err = fmt.Errorf("%w %q", ErrLocationType, loc.Type)
	}
	if err != nil {
		if !errors.Is(err, ErrNoReader) && !errors.Is(err, ErrLocationType) {
			err = fmt.Errorf("%w: %w", ErrUnreadable, err)
		}
		return nil, fmt.Errorf("read %s location %s: %w", loc.Type, loc.Target, err)
	}
	entities, err := l.store.model.Parser(ctx, loc, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEntities, err)
	}
	return entities, nil
}

// LocationEntityName is the name of the Location entity that stands for a location, as
// Backstage generates it: generated-<sha1 of type:target>.
func LocationEntityName(typ, target string) string {
	sum := sha1.Sum([]byte(typ + ":" + target))
	return "generated-" + hex.EncodeToString(sum[:])
}

// locationEntity is the Location entity of a location (named name).
func locationEntity(loc Location, name string) Entity {
	return Entity{
		APIVersion: "backstage.io/v1alpha1", Kind: "Location",
		Metadata: Metadata{Name: name, Namespace: DefaultNamespace},
		Spec:     map[string]any{"type": loc.Type, "target": loc.Target},
	}
}

// key is a location's ref (type:target): the location key of its entities. A relative file
// target is made absolute first, as Backstage does.
func (l *Locations) key(loc Location) string {
	if loc.Type == LocationFile && !filepath.IsAbs(loc.Target) {
		return LocationFile + ":" + filepath.Join(l.baseDir, loc.Target)
	}
	return loc.Type + ":" + loc.Target
}

// deferred reads a location: its Location entity (named name) first, then the entities of its
// data, each with the location's key.
func (l *Locations) deferred(ctx context.Context, loc Location, name string) ([]DeferredEntity, error) {
	entities, err := l.read(ctx, loc)
	if err != nil {
		return nil, err
	}
	key := l.key(loc)
	_, target, _ := strings.Cut(key, ":")
	self := locationEntity(Location{Type: loc.Type, Target: target}, name)
	ds := make([]DeferredEntity, 0, 1+len(entities))
	ds = append(ds, DeferredEntity{Entity: self, LocationKey: key})
	for _, e := range entities {
		ds = append(ds, DeferredEntity{Entity: e, LocationKey: key})
	}
	return ds, nil
}

// apply reads a location and replaces its entities (its Location entity among them).
func (l *Locations) apply(ctx context.Context, loc Location, name string) (Result, error) {
	ds, err := l.deferred(ctx, loc, name)
	if err != nil {
		return Result{}, err
	}
	return l.store.ApplyMutation(ctx, providerOf(loc.ID), Mutation{Type: Full, Entities: ds})
}

// Preview is a location as a dry run reads it: Location.ID is its ref (url:<target>), Exists
// says whether it is registered already, and Entities are its Location entity and the
// entities of its data as they would be stored (without uid, etag or relations).
type Preview struct {
	Exists   bool
	Location Location
	Entities []Entity
}

// Check reads a url location without storing anything (POST /locations?dryRun=true).
func (l *Locations) Check(ctx context.Context, typ, target string) (Preview, error) {
	if typ != LocationURL {
		return Preview{}, errOnlyURL(typ)
	}
	loc := Location{ID: typ + ":" + target, Type: typ, Target: target}
	name := LocationEntityName(typ, target)
	existing, err := l.byTarget(ctx, typ, target)
	exists := err == nil
	switch {
	case exists:
		name = existing.entityName
	case !errors.Is(err, ErrNotFound):
		return Preview{}, err
	}
	loc.EntityRef = locationEntityRef(name)
	ds, err := l.validated(ctx, loc, name)
	if err != nil {
		return Preview{}, err
	}
	p := Preview{Exists: exists, Location: loc, Entities: make([]Entity, len(ds))}
	for i, d := range ds {
		p.Entities[i] = d.Entity
	}
	return p, nil
}

// validated reads a location (see deferred) and returns its entities normalised as they
// would be stored, or ErrInvalidEntities listing every problem.
func (l *Locations) validated(ctx context.Context, loc Location, name string) ([]DeferredEntity, error) {
	ds, err := l.deferred(ctx, loc, name)
	if err != nil {
		return nil, err
	}
	var problems []error
	for i, d := range ds {
		prep, err := l.store.prepare(d)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		ds[i].Entity = prep.entity
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEntities, errors.Join(problems...))
	}
	return ds, nil
}

func locationEntityRef(name string) string { return "location:" + DefaultNamespace + "/" + name }

func errOnlyURL(typ string) error {
	return fmt.Errorf("%w %q: only url locations can be registered here; file locations belong in catalog.locations", ErrLocationType, typ)
}

// Add registers a url location through the API, as Backstage allows by default (file
// locations come from catalog.locations), reads it and stores its entities; it returns the
// location and the stored entities, its Location entity first. Nothing is stored when the
// location cannot be read, holds an invalid entity, or provides an entity another location
// or provider owns.
func (l *Locations) Add(ctx context.Context, typ, target string) (Location, []Entity, error) {
	if typ != LocationURL {
		return Location{}, nil, errOnlyURL(typ)
	}
	if l.isConfigured(typ, target) {
		return Location{}, nil, ErrLocationConfigured
	}
	if existing, err := l.byTarget(ctx, typ, target); err == nil {
		return existing.Location, nil, ErrLocationExists
	}
	id := uuid.NewString()
	name, err := l.freeEntityName(ctx, typ, target, id)
	if err != nil {
		return Location{}, nil, err
	}
	loc := Location{ID: id, Type: typ, Target: target, EntityRef: locationEntityRef(name)}
	ds, err := l.validated(ctx, loc, name)
	if err == nil {
		err = l.checkOwners(ctx, providerOf(id), ds)
	}
	if err != nil {
		return Location{}, nil, err
	}
	if _, err := l.store.db.ExecContext(ctx, `INSERT INTO catalog_locations (id, type, target, created_at, origin, entity_name) VALUES ($1, $2, $3, $4, 'api', $5)`,
		loc.ID, loc.Type, loc.Target, time.Now().UnixMilli(), name); err != nil {
		if existing, ferr := l.byTarget(ctx, typ, target); ferr == nil {
			return existing.Location, nil, ErrLocationExists
		}
		return Location{}, nil, fmt.Errorf("store location: %w", err)
	}
	stored, err := l.applyOwned(ctx, loc, ds)
	if err != nil {
		_ = l.Delete(context.WithoutCancel(ctx), loc.ID)
		return Location{}, nil, err
	}
	return loc, stored, nil
}

// freeEntityName is the name of a new location's Location entity: Backstage's, unless a
// location that moved away from this target (PUT) still has it, then one made from the id.
func (l *Locations) freeEntityName(ctx context.Context, typ, target, id string) (string, error) {
	name := LocationEntityName(typ, target)
	var n int
	if err := l.store.db.QueryRowContext(ctx, `SELECT count(*) FROM catalog_locations WHERE entity_name = $1`, name).Scan(&n); err != nil {
		return "", err
	}
	if n > 0 {
		return LocationEntityName(typ, id+":"+target), nil
	}
	return name, nil
}

// checkOwners returns ErrEntitiesConflict when another provider owns an entity of ds.
func (l *Locations) checkOwners(ctx context.Context, provider string, ds []DeferredEntity) error {
	refs := make([]string, len(ds))
	for i, d := range ds {
		refs[i] = d.Entity.Ref().String()
	}
	owners, err := l.store.owners(ctx, refs)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if owner, ok := owners[ref]; ok && owner != provider {
			return fmt.Errorf("%w: %s is owned by %s", ErrEntitiesConflict, ref, owner)
		}
	}
	return nil
}

// applyOwned replaces a location's entities with ds and returns its stored entities; an
// entity another provider took in the meantime fails it with ErrEntitiesConflict.
func (l *Locations) applyOwned(ctx context.Context, loc Location, ds []DeferredEntity) ([]Entity, error) {
	res, err := l.store.ApplyMutation(ctx, providerOf(loc.ID), Mutation{Type: Full, Entities: ds})
	if err == nil && len(res.Conflicts) > 0 {
		err = fmt.Errorf("%w: %s is owned by %s", ErrEntitiesConflict, res.Conflicts[0].EntityRef, res.Conflicts[0].Owner)
	}
	if err != nil {
		return nil, err
	}
	return l.store.ProvidedBy(ctx, providerOf(loc.ID))
}

// Update points a registered location at another url target (PUT /locations/{id}): the new
// target is read and checked first (nothing changes when it cannot be read, holds an invalid
// entity or provides one another location owns), then replaces the location's entities; the
// Location entity keeps its name. ErrNotFound for an unknown id, ErrLocationExists when
// another location has the target.
func (l *Locations) Update(ctx context.Context, id, typ, target string) (Location, error) {
	if typ != LocationURL {
		return Location{}, errOnlyURL(typ)
	}
	old, err := l.Get(ctx, id)
	if err != nil {
		return Location{}, err
	}
	if other, err := l.byTarget(ctx, typ, target); err == nil && other.ID != id {
		return other.Location, ErrLocationExists
	}
	if l.isConfigured(typ, target) {
		return Location{}, ErrLocationConfigured
	}
	loc := Location{ID: id, Type: typ, Target: target, EntityRef: old.EntityRef}
	_, name, _ := strings.Cut(old.EntityRef, "/")
	ds, err := l.validated(ctx, loc, name)
	if err == nil {
		err = l.checkOwners(ctx, providerOf(id), ds)
	}
	if err != nil {
		return Location{}, err
	}
	if _, err := l.store.db.ExecContext(ctx, `UPDATE catalog_locations SET type = $1, target = $2, entity_name = $3 WHERE id = $4`, typ, target, name, id); err != nil {
		return Location{}, fmt.Errorf("update location: %w", err)
	}
	if _, err := l.applyOwned(ctx, loc, ds); err != nil {
		// Point the location back at its old target. (Only a provider that took one of the
		// entities since checkOwners leaves some of the new target's entities applied.)
		if _, rerr := l.store.db.ExecContext(context.WithoutCancel(ctx), `UPDATE catalog_locations SET type = $1, target = $2 WHERE id = $3`, old.Type, old.Target, id); rerr != nil {
			l.log.Error().Err(rerr).Str("location", id).Msg("cannot restore a location's target after a failed update")
		}
		return Location{}, err
	}
	return loc, nil
}

// storedLocation is a row of catalog_locations.
type storedLocation struct {
	Location
	entityName string
}

const locationColumns = `id, type, target, entity_name`

func scanLocation(row interface{ Scan(...any) error }) (storedLocation, error) {
	var s storedLocation
	if err := row.Scan(&s.ID, &s.Type, &s.Target, &s.entityName); err != nil {
		return storedLocation{}, err
	}
	if s.entityName == "" { // registered before the name was stored
		s.entityName = LocationEntityName(s.Type, s.Target)
	}
	s.EntityRef = "location:" + DefaultNamespace + "/" + s.entityName
	return s, nil
}

// byTarget finds a registered location (of the API) by type and target.
func (l *Locations) byTarget(ctx context.Context, typ, target string) (storedLocation, error) {
	loc, err := scanLocation(l.store.db.QueryRowContext(ctx, `SELECT `+locationColumns+` FROM catalog_locations WHERE type = $1 AND target = $2 AND origin = 'api'`, typ, target))
	if errors.Is(err, sql.ErrNoRows) {
		return storedLocation{}, ErrNotFound
	}
	return loc, err
}

// isConfigured reports whether catalog.locations lists a location with this type and target.
func (l *Locations) isConfigured(typ, target string) bool {
	for _, c := range l.configured {
		if c.Type == typ && c.Target == target {
			return true
		}
	}
	return false
}

// List returns the locations registered through the API, oldest first (those of
// catalog.locations are not listed, as in Backstage: they exist as Location entities).
func (l *Locations) List(ctx context.Context) ([]Location, error) {
	rows, err := l.store.db.QueryContext(ctx, `SELECT `+locationColumns+` FROM catalog_locations WHERE origin = 'api' ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	defer rows.Close()
	out := []Location{}
	for rows.Next() {
		loc, err := scanLocation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, loc.Location)
	}
	return out, rows.Err()
}

// Get returns a location registered through the API, or ErrNotFound.
func (l *Locations) Get(ctx context.Context, id string) (Location, error) {
	loc, err := scanLocation(l.store.db.QueryRowContext(ctx, `SELECT `+locationColumns+` FROM catalog_locations WHERE id = $1 AND origin = 'api'`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Location{}, ErrNotFound
	}
	return loc.Location, err
}

// ByEntity returns the registered location an entity originates from (its
// backstage.io/managed-by-origin-location), or ErrNotFound.
func (l *Locations) ByEntity(ctx context.Context, ref EntityRef) (Location, error) {
	e, err := l.store.GetByRef(ctx, ref)
	if err != nil {
		return Location{}, err
	}
	typ, target, ok := strings.Cut(e.Metadata.Annotations[AnnotationManagedByOriginLocation], ":")
	if !ok {
		return Location{}, fmt.Errorf("%w: entity %s has no origin location", ErrNotFound, ref)
	}
	loc, err := l.byTarget(ctx, typ, target)
	return loc.Location, err
}

// Delete removes a location registered through the API and the entities it provided.
func (l *Locations) Delete(ctx context.Context, id string) error {
	res, err := l.store.db.ExecContext(ctx, `DELETE FROM catalog_locations WHERE id = $1 AND origin = 'api'`, id)
	if err != nil {
		return fmt.Errorf("delete location: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	_, err = l.store.ApplyMutation(ctx, providerOf(id), Mutation{Type: Full})
	return err
}

func (l *Locations) query(ctx context.Context, q string, args ...any) ([]storedLocation, error) {
	rows, err := l.store.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedLocation
	for rows.Next() {
		loc, err := scanLocation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, loc)
	}
	return out, rows.Err()
}

// Refresh reads again where an entity comes from (POST /refresh): the location that provided
// it, or, for an entity a provider read from a url location (its location key), that file,
// whose entities replace what the provider had from it. An entity with neither is kept
// current by its provider alone, and there is nothing to read. ErrNotFound for an unknown
// entity.
func (l *Locations) Refresh(ctx context.Context, ref EntityRef) error {
	provider, key, err := l.store.provenance(ctx, ref)
	if err != nil {
		return err
	}
	if id, ok := strings.CutPrefix(provider, "location:"); ok {
		locs, err := l.query(ctx, `SELECT `+locationColumns+` FROM catalog_locations WHERE id = $1`, id)
		if err != nil || len(locs) == 0 {
			return err
		}
		_, err = l.apply(ctx, locs[0].Location, locs[0].entityName)
		return err
	}
	typ, target, ok := strings.Cut(key, ":")
	if !ok || typ != LocationURL {
		return nil
	}
	entities, err := l.read(ctx, Location{Type: typ, Target: target})
	if err != nil {
		return err
	}
	before, err := l.store.refsWithKey(ctx, provider, key)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	ds := make([]DeferredEntity, len(entities))
	for i, e := range entities {
		ds[i] = DeferredEntity{Entity: e, LocationKey: key}
		keep[e.Ref().String()] = true
	}
	var removed []string
	for _, r := range before {
		if !keep[r] {
			removed = append(removed, r)
		}
	}
	_, err = l.store.ApplyMutation(ctx, provider, Mutation{Type: Delta, Entities: ds, Removed: removed})
	return err
}

// Ancestry is an entity and where it comes from, as GET …/ancestry answers: the entity, then
// the Location entity of the location that provided it.
type Ancestry struct {
	RootEntityRef string         `json:"rootEntityRef"`
	Items         []AncestryItem `json:"items"`
}

// AncestryItem is one entity of an ancestry and the refs of its parents.
type AncestryItem struct {
	Entity           Entity   `json:"entity"`
	ParentEntityRefs []string `json:"parentEntityRefs"`
}

// Ancestry returns an entity's ancestry, or ErrNotFound.
func (l *Locations) Ancestry(ctx context.Context, ref EntityRef) (Ancestry, error) {
	root, err := l.store.GetByRef(ctx, ref)
	if err != nil {
		return Ancestry{}, err
	}
	out := Ancestry{RootEntityRef: ref.String(), Items: []AncestryItem{{Entity: root, ParentEntityRefs: []string{}}}}
	provider, _, err := l.store.provenance(ctx, ref)
	if err != nil {
		return Ancestry{}, err
	}
	id, ok := strings.CutPrefix(provider, "location:")
	if !ok || strings.EqualFold(root.Kind, "Location") {
		return out, nil
	}
	locs, err := l.query(ctx, `SELECT `+locationColumns+` FROM catalog_locations WHERE id = $1`, id)
	if err != nil || len(locs) == 0 {
		return out, err
	}
	parentRef := EntityRef{Kind: "location", Namespace: DefaultNamespace, Name: locs[0].entityName}
	parent, err := l.store.GetByRef(ctx, parentRef)
	if errors.Is(err, ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return Ancestry{}, err
	}
	out.Items[0].ParentEntityRefs = []string{parentRef.String()}
	out.Items = append(out.Items, AncestryItem{Entity: parent, ParentEntityRefs: []string{}})
	return out, nil
}

// configuredID gives a catalog.locations entry a stable id.
func configuredID(c LocationConfig) string {
	sum := sha256.Sum256([]byte(c.Type + "\x00" + c.Target))
	return "config-" + hex.EncodeToString(sum[:8])
}

// Start removes the locations (and their entities) that catalog.locations no longer lists,
// then reads the configured ones in the background, retrying those that fail every minute
// until each was read; a failed read is logged, never fatal to start-up.
func (l *Locations) Start(ctx context.Context) error {
	if err := l.purgeUnconfigured(ctx); err != nil {
		return fmt.Errorf("catalog: remove the locations catalog.locations no longer lists: %w", err)
	}
	if len(l.configured) == 0 {
		return nil
	}
	return l.loop.Start(ctx)
}

// purgeUnconfigured removes the configured locations catalog.locations no longer lists.
func (l *Locations) purgeUnconfigured(ctx context.Context) error {
	listed := map[string]bool{}
	for _, c := range l.configured {
		listed[configuredID(c)] = true
	}
	locs, err := l.query(ctx, `SELECT `+locationColumns+` FROM catalog_locations WHERE origin = 'config'`)
	if err != nil {
		return err
	}
	for _, loc := range locs {
		if listed[loc.ID] {
			continue
		}
		if _, err := l.store.db.ExecContext(ctx, `DELETE FROM catalog_locations WHERE id = $1`, loc.ID); err != nil {
			return err
		}
		res, err := l.store.ApplyMutation(ctx, providerOf(loc.ID), Mutation{Type: Full})
		if err != nil {
			return err
		}
		l.log.Info().Str("location", loc.Target).Int("deleted", len(res.Deleted)).Msg("location no longer in catalog.locations: removed with its entities")
	}
	return nil
}

// readPending reads the configured locations not read yet; it returns their errors, or
// background.ErrFinished once every one was read.
func (l *Locations) readPending(ctx context.Context) error {
	var failed []LocationConfig
	var errs []error
	for _, c := range l.pending {
		loc := Location{ID: configuredID(c), Type: c.Type, Target: c.Target}
		rctx, cancel := context.WithTimeout(ctx, locationTimeout)
		err := l.ensureConfigured(rctx, loc)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // stopping: the rest stays pending
			}
			failed = append(failed, c)
			errs = append(errs, fmt.Errorf("configured location %s: %w", c.Target, err))
		}
	}
	l.pending = failed
	if len(failed) == 0 {
		return background.ErrFinished
	}
	return errors.Join(errs...)
}

func (l *Locations) ensureConfigured(ctx context.Context, loc Location) error {
	_, target, _ := strings.Cut(l.key(loc), ":")
	name := LocationEntityName(loc.Type, target)
	if _, err := l.store.db.ExecContext(ctx, `INSERT INTO catalog_locations (id, type, target, created_at, origin, entity_name) VALUES ($1, $2, $3, $4, 'config', $5) ON CONFLICT (id) DO UPDATE SET entity_name = excluded.entity_name`,
		loc.ID, loc.Type, loc.Target, time.Now().UnixMilli(), name); err != nil {
		return err
	}
	res, err := l.apply(ctx, loc, name)
	if err != nil {
		return err
	}
	l.log.Info().Str("location", loc.Target).Int("upserted", len(res.Upserted)).Int("unchanged", res.Unchanged).Msg("configured location read")
	return nil
}

// Stop ends the retries of configured locations: a read under way is cancelled, and Stop
// waits for it until ctx ends, no longer.
func (l *Locations) Stop(ctx context.Context) error { return l.loop.Stop(ctx) }
