package database_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
)

var testMigrations = []database.Migration{
	{Module: "zeta", Version: 1, SQL: `CREATE TABLE zeta_items (id TEXT PRIMARY KEY, n BIGINT NOT NULL)`},
	{Module: "alpha", Version: 2, SQL: `ALTER TABLE alpha_things ADD COLUMN note TEXT`},
	{Module: "alpha", Version: 1,
		SQLite:   `CREATE TABLE alpha_things (id INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB NOT NULL)`,
		Postgres: `CREATE TABLE alpha_things (id BIGSERIAL PRIMARY KEY, payload BYTEA NOT NULL)`},
}

// TestStoreContract checks the migration runner and the shared SQL conventions on every
// dialect.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, testMigrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()

		t.Run("migrations are recorded once, in module and version order", func(t *testing.T) {
			rows, err := db.QueryContext(ctx, `SELECT module, version FROM schema_migrations ORDER BY applied_at, module, version`)
			require.NoError(t, err)
			defer rows.Close()
			var got []string
			for rows.Next() {
				var m string
				var v int
				require.NoError(t, rows.Scan(&m, &v))
				got = append(got, m+"/"+string(rune('0'+v)))
			}
			require.Equal(t, []string{"alpha/1", "alpha/2", "zeta/1"}, got)
			require.NoError(t, db.Migrate(ctx), "migrating again is a no-op")
		})

		t.Run("placeholders, blobs and upserts work alike", func(t *testing.T) {
			_, err := db.ExecContext(ctx, `INSERT INTO alpha_things (payload, note) VALUES ($1, $2)`, []byte{0, 1, 2}, "n")
			require.NoError(t, err)
			var payload []byte
			var note string
			require.NoError(t, db.QueryRowContext(ctx, `SELECT payload, note FROM alpha_things WHERE note = $1`, "n").Scan(&payload, &note))
			require.Equal(t, []byte{0, 1, 2}, payload)
			for i := range 2 {
				_, err = db.ExecContext(ctx, `INSERT INTO zeta_items (id, n) VALUES ($1, $2)
					ON CONFLICT (id) DO UPDATE SET n = zeta_items.n + excluded.n`, "a", int64(i+1))
				require.NoError(t, err)
			}
			var n int64
			require.NoError(t, db.QueryRowContext(ctx, `SELECT n FROM zeta_items WHERE id = $1`, "a").Scan(&n))
			require.Equal(t, int64(3), n)
		})

		t.Run("concurrent writers all land", func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Go(func() {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						errs <- err
						return
					}
					defer tx.Rollback() //nolint:errcheck
					if _, err := tx.ExecContext(ctx, `INSERT INTO zeta_items (id, n) VALUES ($1, $2)`, "c"+string(rune('a'+i)), i); err != nil {
						errs <- err
						return
					}
					errs <- tx.Commit()
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM zeta_items WHERE id LIKE 'c%'`).Scan(&n))
			require.Equal(t, 20, n)
		})

		t.Run("a failing migration applies nothing", func(t *testing.T) {
			bad := append(append([]database.Migration(nil), testMigrations...),
				database.Migration{Module: "beta", Version: 1, SQL: `CREATE TABLE beta_ok (id TEXT)`},
				database.Migration{Module: "beta", Version: 2, SQL: `THIS IS NOT SQL`},
			)
			err := reopen(t, db, bad).Migrate(ctx)
			require.ErrorContains(t, err, "migration beta/2")
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE module = 'beta'`).Scan(&n))
			require.Zero(t, n)
		})

		t.Run("instances migrating at once apply each migration once", func(t *testing.T) {
			more := append(append([]database.Migration(nil), testMigrations...),
				database.Migration{Module: "gamma", Version: 1, SQL: `CREATE TABLE gamma_once (id TEXT)`})
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				other := reopen(t, db, more)
				wg.Go(func() { errs <- other.Migrate(ctx) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE module = 'gamma'`).Scan(&n))
			require.Equal(t, 1, n)
		})
	})
}

// reopen opens a second handle on the same database with other migrations, like a second
// instance would.
func reopen(t *testing.T, db *database.DB, ms []database.Migration) *database.DB {
	t.Helper()
	other, err := database.Open(sameDatabase(t, db), ms, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	return other
}

func TestMigrationDeclarationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ms   []database.Migration
		want string
	}{
		{"twice", []database.Migration{{Module: "a", Version: 1, SQL: "SELECT 1"}, {Module: "a", Version: 1, SQL: "SELECT 1"}}, "migration a/1 is declared twice"},
		{"no version", []database.Migration{{Module: "a", SQL: "SELECT 1"}}, "needs a module, a version from 1, and SQL"},
		{"no SQL for the dialect", []database.Migration{{Module: "a", Version: 1, Postgres: "SELECT 1"}}, "needs a module, a version from 1, and SQL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := database.Open(database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: ":memory:"}}, tt.ms, zerolog.Nop())
			require.NoError(t, err)
			defer db.Close()
			require.ErrorContains(t, db.Start(context.Background()), tt.want)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := database.Open(database.Config{Client: database.ClientPostgres, Connection: database.Connection{DSN: "postgres://u:hunter2@host:notaport/db"}}, nil, zerolog.Nop())
	require.ErrorContains(t, err, "backend.database.connection: not a valid PostgreSQL connection string")
	require.NotContains(t, err.Error(), "hunter2")

	db, err := database.Open(database.Config{Client: database.ClientPostgres, Connection: database.Connection{DSN: "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2"}}, nil, zerolog.Nop())
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = db.Start(ctx)
	require.ErrorContains(t, err, "cannot connect to the database postgres://u:"+config.Redacted+"@127.0.0.1:1/db")
	require.NotContains(t, err.Error(), "hunter2")
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		yaml      string
		wantErr   string
		wantPrint string
	}{
		{name: "default is SQLite", yaml: "{}", wantPrint: "client: sqlite"},
		{name: "pg URL is printed without its password", yaml: "backend:\n  database:\n    client: pg\n    connection: postgres://app:s3cret@db:5432/stagebus\n",
			wantPrint: "connection: postgres://app:" + config.Redacted + "@db:5432/stagebus"},
		{name: "pg object", yaml: "backend:\n  database:\n    client: pg\n    connection:\n      host: db\n      port: 5432\n      user: app\n      password: s3cret\n      database: stagebus\n",
			wantPrint: "connection: postgres://app:" + config.Redacted + "@db:5432/stagebus"},
		{name: "keyword DSN is redacted whole", yaml: "backend:\n  database:\n    client: pg\n    connection: host=db password=s3cret\n",
			wantPrint: "connection: '" + config.Redacted + "'"},
		{name: "unknown client", yaml: "backend:\n  database:\n    client: mysql\n", wantErr: `backend.database.client: must be sqlite or pg, got "mysql"`},
		{name: "pg without connection", yaml: "backend:\n  database:\n    client: pg\n", wantErr: "backend.database.connection: is required for pg"},
		{name: "typo in the object form", yaml: "backend:\n  database:\n    client: pg\n    connection:\n      hots: db\n", wantErr: `backend.database.connection.hots: unknown key; did you mean "host"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tree := loadYAML(t, tt.yaml)
			c, err := config.Decode(tree, config.NewSection[database.Config]("backend.database"))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			var b bytesBuffer
			require.NoError(t, c.Print(&b))
			require.Contains(t, b.String(), tt.wantPrint)
			require.NotContains(t, b.String(), "s3cret")
		})
	}
}
