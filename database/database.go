package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/rs/zerolog"
	"go.uber.org/fx"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/health"
	"github.com/stagebus/stagebus/internal/background"
)

// Dialect tells the SQL dialects apart where they differ (DDL types, upserts that need it).
type Dialect string

// The dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DefaultSQLitePath is where SQLite keeps its file unless backend.database.connection says
// otherwise.
const DefaultSQLitePath = "./data/stagebus.db"

// DB is the shared database: a *sql.DB and its dialect. It is safe for concurrent use.
type DB struct {
	*sql.DB
	dialect    Dialect
	migrations []Migration
	log        zerolog.Logger
	describe   string
	cfg        Config

	// optimizer refreshes SQLite's planner statistics between Start and Stop.
	optimizer *background.Loop
}

// Config returns the configuration the database was opened with.
func (db *DB) Config() Config { return db.cfg }

// Dialect returns which SQL dialect the database speaks.
func (db *DB) Dialect() Dialect { return db.dialect }

// Open prepares the database described by cfg without connecting; [DB.Start] connects and
// migrates. A malformed connection string is an error here.
func Open(cfg Config, migrations []Migration, log zerolog.Logger) (*DB, error) {
	db := &DB{migrations: migrations, log: log, describe: cfg.Connection.String(), cfg: cfg}
	// PRAGMA optimize now and hourly, so that SQLite's planner has statistics (ANALYZE of the
	// tables that need it): without them it may drive a catalog query from an index that
	// matches every row. PostgreSQL's autovacuum does this by itself.
	db.optimizer = background.New("database.optimize", optimizeInterval, db.Optimize,
		background.Immediately(), background.WithTimeout(5*time.Minute), background.WithLogger(log))
	switch cfg.Client {
	case ClientPostgres:
		dsn := cfg.Connection.DSN
		if cfg.Connection.object {
			dsn = cfg.Connection.postgresURL()
		}
		pgCfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("backend.database.connection: not a valid PostgreSQL connection string (%s): %w", db.describe, redactErr(err, cfg.Connection))
		}
		sqlDB := stdlib.OpenDB(*pgCfg)
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		db.DB, db.dialect = sqlDB, Postgres
	default:
		path := cfg.Connection.DSN
		if path == "" {
			path = DefaultSQLitePath
		}
		dsn, memory := sqliteDSN(path)
		sqlDB, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("backend.database.connection: %w", err)
		}
		if memory {
			// Every connection to :memory: is a database of its own: keep exactly one.
			sqlDB.SetMaxOpenConns(1)
			sqlDB.SetConnMaxIdleTime(0)
			sqlDB.SetConnMaxLifetime(0)
		} else {
			sqlDB.SetMaxOpenConns(8)
		}
		db.DB, db.dialect = sqlDB, SQLite
		if !memory {
			db.describe = path
		}
	}
	return db, nil
}

// sqliteDSN builds the driver DSN: WAL, a busy timeout, foreign keys, and transactions that
// take the write lock when they begin (no lock upgrades that fail under contention).
func sqliteDSN(path string) (dsn string, memory bool) {
	const params = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=cache_size(-32000)&_txlock=immediate"
	if path == ":memory:" {
		return "file::memory:?" + params, true
	}
	return "file:" + path + "?" + params + "&_pragma=journal_mode(WAL)", false
}

// redactErr keeps a driver's parse error from echoing a password.
func redactErr(err error, c Connection) error {
	msg := err.Error()
	if c.Password != "" {
		msg = strings.ReplaceAll(msg, c.Password.Value(), config.Redacted)
	}
	if c.DSN != "" {
		msg = strings.ReplaceAll(msg, c.DSN, fmt.Sprint(c.RedactedConfig()))
	}
	return errors.New(msg)
}

// Start connects (creating the SQLite file's directory when needed) and applies pending
// migrations.
func (db *DB) Start(ctx context.Context) error {
	if db.dialect == SQLite && db.describe != "" && db.describe != ":memory:" {
		if dir := filepath.Dir(db.describe); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return fmt.Errorf("create the database directory: %w", err)
			}
		}
	}
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("cannot connect to the database %s (backend.database): %w", db.describe, err)
	}
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	if db.dialect == SQLite {
		if err := db.optimizer.Start(ctx); err != nil {
			return err
		}
	}
	db.log.Info().Str("client", string(db.dialect)).Str("database", db.describe).Msg("database ready")
	return nil
}

// optimizeInterval is how often SQLite refreshes the statistics its query planner uses.
const optimizeInterval = time.Hour

// smallTable is the size below which a table's statistics are not kept: they would plan for
// a tiny table (a scan costs as little as a search there), and a table that then grows — the
// bus's, within seconds of start-up — would be scanned for every read until the next
// refresh. Without statistics SQLite assumes a large table and uses the indexes.
const smallTable = 1000

// Optimize refreshes the query planner's statistics now (SQLite; PostgreSQL does it by itself),
// dropping those of small tables.
func (db *DB) Optimize(ctx context.Context) error {
	if db.dialect != SQLite {
		return nil
	}
	if _, err := db.ExecContext(ctx, `PRAGMA optimize=0x10002`); err != nil {
		return err
	}
	res, err := db.ExecContext(ctx, `DELETE FROM sqlite_stat1 WHERE CAST(stat AS INTEGER) < $1`, smallTable)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		// Loads the statistics anew, so that statements are planned without the dropped ones.
		_, err = db.ExecContext(ctx, `ANALYZE sqlite_schema`)
		return err
	}
	return nil
}

// Stop ends the background work — an optimize under way is cancelled, and waited for until
// ctx ends — and closes the connections.
func (db *DB) Stop(ctx context.Context) error {
	return errors.Join(db.optimizer.Stop(ctx), db.DB.Close())
}

// Close is Stop without a deadline, for code that owns a DB outside an fx lifecycle.
func (db *DB) Close() error { return db.Stop(context.Background()) }

// HealthCheck reports whether the database answers.
func (db *DB) HealthCheck() health.Check {
	return health.Check{Name: "database", Check: db.PingContext}
}

// Module provides the *DB from backend.database, connected and migrated in OnStart and
// closed in OnStop, and its readiness check.
var Module = fx.Module("database",
	config.Provide[Config]("backend.database"),
	fx.Provide(
		func(lc fx.Lifecycle, cfg Config, p migrationsIn, log zerolog.Logger) (*DB, error) {
			db, err := Open(cfg, p.Migrations, log)
			if err != nil {
				return nil, err
			}
			lc.Append(fx.StartStopHook(db.Start, db.Stop))
			return db, nil
		},
		health.AsCheck(func(db *DB) health.Check { return db.HealthCheck() }),
	),
)

type migrationsIn struct {
	fx.In
	Migrations []Migration `group:"migrations"`
}
