package database

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.uber.org/fx"
)

// Migration is one schema change of one module. Versions count from 1 within a module and
// are applied in order; an applied migration is never edited, a new one is added instead.
type Migration struct {
	Module  string
	Version int
	// SQL runs on both dialects unless the dialect's own text below is set.
	SQL      string
	SQLite   string
	Postgres string
}

func (m Migration) text(d Dialect) string {
	switch {
	case d == SQLite && m.SQLite != "":
		return m.SQLite
	case d == Postgres && m.Postgres != "":
		return m.Postgres
	}
	return m.SQL
}

// AsMigrations contributes a module's migrations to the "migrations" value group.
func AsMigrations(ms ...Migration) fx.Option {
	return fx.Provide(fx.Annotate(
		func() []Migration { return ms },
		fx.ResultTags(`group:"migrations,flatten"`),
	))
}

// migrationLock is the PostgreSQL advisory lock key that serialises migrations across
// instances ("stagebus" in ASCII).
const migrationLock = 0x7374616765627573

// Migrate applies the pending migrations in one transaction. On PostgreSQL it first takes an
// advisory lock, so instances starting together apply each migration once.
func (db *DB) Migrate(ctx context.Context) error {
	ms := append([]Migration(nil), db.migrations...)
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Module != ms[j].Module {
			return ms[i].Module < ms[j].Module
		}
		return ms[i].Version < ms[j].Version
	})
	for i, m := range ms {
		if m.Module == "" || m.Version < 1 || m.text(db.dialect) == "" {
			return fmt.Errorf("migration %s/%d: needs a module, a version from 1, and SQL", m.Module, m.Version)
		}
		if i > 0 && ms[i-1].Module == m.Module && ms[i-1].Version == m.Version {
			return fmt.Errorf("migration %s/%d is declared twice", m.Module, m.Version)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if db.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		module TEXT NOT NULL,
		version INTEGER NOT NULL,
		applied_at BIGINT NOT NULL,
		PRIMARY KEY (module, version))`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	type key struct {
		module  string
		version int
	}
	applied := map[key]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT module, version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var mod string
		var v int
		if err := rows.Scan(&mod, &v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied[key{mod, v}] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	n := 0
	for _, m := range ms {
		if applied[key{m.Module, m.Version}] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.text(db.dialect)); err != nil {
			return fmt.Errorf("migration %s/%d: %w", m.Module, m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (module, version, applied_at) VALUES ($1, $2, $3)`,
			m.Module, m.Version, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("migration %s/%d: record: %w", m.Module, m.Version, err)
		}
		n++
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	if n > 0 {
		db.log.Info().Int("applied", n).Msg("database migrations applied")
	}
	return nil
}
