package databasetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/testenv"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
)

// PostgresURLEnv names the variable with the test PostgreSQL server's URL.
const PostgresURLEnv = "PLATFORM_TEST_POSTGRES_URL"

// Each runs fn as the subtests "sqlite" and "postgres", each on a fresh, migrated database.
func Each(t *testing.T, migrations []database.Migration, fn func(t *testing.T, db *database.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t, migrations)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t, migrations)) })
}

// SQLite returns a migrated database in a temporary file, closed when the test ends.
func SQLite(t testing.TB, migrations []database.Migration) *database.DB {
	t.Helper()
	cfg := database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: filepath.Join(t.TempDir(), "test.db")}}
	return start(t, cfg, migrations)
}

// PostgresConfig returns a Config for a fresh schema on the test server (dropped when the
// test ends), or skips the test — fails it under PLATFORM_REQUIRE_REAL_SERVICES=1 — when no
// server is configured.
func PostgresConfig(t testing.TB) database.Config {
	t.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		testenv.Missing(t, "%s is not set: run the tests with make test, or start PostgreSQL with scripts/services up", PostgresURLEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresURLEnv, err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema on %s: %v", PostgresURLEnv, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return database.Config{Client: database.ClientPostgres, Connection: database.Connection{DSN: u.String()}}
}

// Postgres returns a migrated database in a fresh schema of the test server; see
// [PostgresConfig] for when it skips.
func Postgres(t testing.TB, migrations []database.Migration) *database.DB {
	t.Helper()
	return start(t, PostgresConfig(t), migrations)
}

func start(t testing.TB, cfg database.Config, migrations []database.Migration) *database.DB {
	t.Helper()
	db, err := database.Open(cfg, migrations, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// HoldWriteLock takes table's write lock in a transaction of its own and keeps it until the
// test ends, so that the code under test finds the table busy (SQLite: the database's write
// lock; PostgreSQL: an exclusive table lock).
func HoldWriteLock(t testing.TB, db *database.DB, table string) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatalf("begin the locking transaction: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	lock := `DELETE FROM ` + table + ` WHERE 1 = 0`
	if db.Dialect() == database.Postgres {
		lock = `LOCK TABLE ` + table + ` IN ACCESS EXCLUSIVE MODE`
	}
	if _, err := tx.Exec(lock); err != nil {
		t.Fatalf("lock %s: %v", table, err)
	}
}
