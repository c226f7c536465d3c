package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	ErrLocationExists   = errors.New("location already exists")
	ErrNoReader         = errors.New("no integration can read this location")
	ErrLocationType     = errors.New("unsupported location type")
	ErrInvalidEntities  = errors.New("the location holds invalid entities")
	ErrEntitiesConflict = errors.New("the location provides entities that another location or provider owns")
)

// Locations reads locations into the catalog: each location is a provider ("location:<id>")
// that owns the entities its data holds.
type Locations struct {
	store   *Store
	readers []Reader
	baseDir string
	log     zerolog.Logger

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

// NewLocations returns the location service; file targets are relative to baseDir. Failed
// reads of configured locations are counted on reg (loop catalog.locations); reg may be nil.
func NewLocations(store *Store, readers []Reader, configured []LocationConfig, baseDir string, log zerolog.Logger, reg prometheus.Registerer) *Locations {
	l := &Locations{
		store: store, readers: readers, configured: configured, baseDir: baseDir, log: log,
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
		return nil, fmt.Errorf("read %s location %s: %w", loc.Type, loc.Target, err)
	}
	return l.store.model.Parser(ctx, loc, data)
}

// apply reads a location and replaces its entities.
func (l *Locations) apply(ctx context.Context, loc Location) (Result, []Entity, error) {
	entities, err := l.read(ctx, loc)
	if err != nil {
		return Result{}, nil, err
	}
	ds := make([]DeferredEntity, len(entities))
	for i, e := range entities {
		ds[i] = DeferredEntity{Entity: e, LocationKey: loc.Type + ":" + loc.Target}
	}
	res, err := l.store.ApplyMutation(ctx, providerOf(loc.ID), Mutation{Type: Full, Entities: ds})
	return res, entities, err
}

// Add registers a location through the API (url type only, as Backstage allows by default:
// file locations come from catalog.locations) and reads it. With dryRun nothing is stored.
func (l *Locations) Add(ctx context.Context, typ, target string, dryRun bool) (Location, []Entity, error) {
	if typ != LocationURL {
		return Location{}, nil, fmt.Errorf("%w %q: only url locations can be added here; file locations belong in catalog.locations", ErrLocationType, typ)
	}
	loc := Location{ID: uuid.NewString(), Type: typ, Target: target}
	entities, err := l.read(ctx, loc)
	if err != nil {
		return Location{}, nil, err
	}
	var problems []error
	for _, e := range entities {
		if err := l.store.model.Validators.Validate(e); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return Location{}, nil, fmt.Errorf("%w: %w", ErrInvalidEntities, errors.Join(problems...))
	}
	if dryRun {
		return loc, entities, nil
	}
	if _, err := l.store.db.ExecContext(ctx, `INSERT INTO catalog_locations (id, type, target, created_at) VALUES ($1, $2, $3, $4)`,
		loc.ID, loc.Type, loc.Target, time.Now().UnixMilli()); err != nil {
		if existing, ferr := l.byTarget(ctx, typ, target); ferr == nil {
			return existing, nil, ErrLocationExists
		}
		return Location{}, nil, fmt.Errorf("store location: %w", err)
	}
	res, stored, err := l.apply(ctx, loc)
	if err == nil && len(res.Conflicts) > 0 {
		err = fmt.Errorf("%w: %s is owned by %s", ErrEntitiesConflict, res.Conflicts[0].EntityRef, res.Conflicts[0].Owner)
	}
	if err != nil {
		_ = l.Delete(context.WithoutCancel(ctx), loc.ID)
		return Location{}, nil, err
	}
	return loc, stored, nil
}

func (l *Locations) byTarget(ctx context.Context, typ, target string) (Location, error) {
	var loc Location
	err := l.store.db.QueryRowContext(ctx, `SELECT id, type, target FROM catalog_locations WHERE type = $1 AND target = $2`, typ, target).Scan(&loc.ID, &loc.Type, &loc.Target)
	if errors.Is(err, sql.ErrNoRows) {
		return Location{}, ErrNotFound
	}
	return loc, err
}

// List returns every location.
func (l *Locations) List(ctx context.Context) ([]Location, error) {
	rows, err := l.store.db.QueryContext(ctx, `SELECT id, type, target FROM catalog_locations ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	defer rows.Close()
	out := []Location{}
	for rows.Next() {
		var loc Location
		if err := rows.Scan(&loc.ID, &loc.Type, &loc.Target); err != nil {
			return nil, err
		}
		out = append(out, loc)
	}
	return out, rows.Err()
}

// Get returns a location, or ErrNotFound.
func (l *Locations) Get(ctx context.Context, id string) (Location, error) {
	var loc Location
	err := l.store.db.QueryRowContext(ctx, `SELECT id, type, target FROM catalog_locations WHERE id = $1`, id).Scan(&loc.ID, &loc.Type, &loc.Target)
	if errors.Is(err, sql.ErrNoRows) {
		return Location{}, ErrNotFound
	}
	return loc, err
}

// Delete removes a location and the entities it provided.
func (l *Locations) Delete(ctx context.Context, id string) error {
	res, err := l.store.db.ExecContext(ctx, `DELETE FROM catalog_locations WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete location: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	_, err = l.store.ApplyMutation(ctx, providerOf(id), Mutation{Type: Full})
	return err
}

// RefreshTarget reads again every location with this url target (a push changed the file);
// it returns how many it refreshed.
func (l *Locations) RefreshTarget(ctx context.Context, target string) (int, error) {
	rows, err := l.store.db.QueryContext(ctx, `SELECT id, type, target FROM catalog_locations WHERE target = $1`, target)
	if err != nil {
		return 0, err
	}
	var locs []Location
	for rows.Next() {
		var loc Location
		if err := rows.Scan(&loc.ID, &loc.Type, &loc.Target); err != nil {
			rows.Close()
			return 0, err
		}
		locs = append(locs, loc)
	}
	rows.Close()
	for _, loc := range locs {
		if _, _, err := l.apply(ctx, loc); err != nil {
			return 0, err
		}
	}
	return len(locs), nil
}

// configuredID gives a catalog.locations entry a stable id.
func configuredID(c LocationConfig) string {
	sum := sha256.Sum256([]byte(c.Type + "\x00" + c.Target))
	return "config-" + hex.EncodeToString(sum[:8])
}

// Start reads the configured locations in the background, retrying those that fail every
// minute until each was read; a failure is logged, never fatal to start-up.
func (l *Locations) Start(ctx context.Context) error {
	if len(l.configured) == 0 {
		return nil
	}
	return l.loop.Start(ctx)
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
	if _, err := l.store.db.ExecContext(ctx, `INSERT INTO catalog_locations (id, type, target, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
		loc.ID, loc.Type, loc.Target, time.Now().UnixMilli()); err != nil {
		return err
	}
	res, _, err := l.apply(ctx, loc)
	if err != nil {
		return err
	}
	l.log.Info().Str("location", loc.Target).Int("upserted", len(res.Upserted)).Int("unchanged", res.Unchanged).Msg("configured location read")
	return nil
}

// Stop ends the retries of configured locations: a read under way is cancelled, and Stop
// waits for it until ctx ends, no longer.
func (l *Locations) Stop(ctx context.Context) error { return l.loop.Stop(ctx) }
