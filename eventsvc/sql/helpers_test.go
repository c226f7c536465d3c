package sqlbus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// dialects runs fn on a fresh migrated SQLite database and on a fresh schema of the test
// PostgreSQL (skipped without one, failed under PLATFORM_REQUIRE_REAL_SERVICES=1).
func dialects(t *testing.T, fn func(t *testing.T, db *database.DB)) {
	databasetest.Each(t, sqlbus.Migrations, fn)
}

// testConfig polls rarely, so that the tests show the wake-ups work, and lets a lease expire
// soon.
func testConfig() sqlbus.Config {
	var c sqlbus.Config
	c.SetDefaults()
	c.PollInterval = 500 * time.Millisecond
	c.LeaseTimeout = 2 * time.Second
	return c
}

// newBus returns an unstarted bus on db.
func newBus(t testing.TB, db *database.DB, cfg sqlbus.Config) *sqlbus.Bus {
	t.Helper()
	b, err := sqlbus.New(db, cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	return b
}

// startBus returns a started bus on db, closed when the test ends.
func startBus(t testing.TB, db *database.DB, cfg sqlbus.Config) *sqlbus.Bus {
	t.Helper()
	b := newBus(t, db, cfg)
	require.NoError(t, b.Start(t.Context()))
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// shared is an eventsvctest.Bus: backends on one database, like instances.
type shared struct {
	db  *database.DB
	cfg sqlbus.Config
}

func (s shared) NewBackend(t *testing.T) eventsvc.Backend { return newBus(t, s.db, s.cfg) }

// refuseMessage makes db refuse to insert the bus message with uuid id, with a trigger.
func refuseMessage(t testing.TB, db *database.DB, id string) {
	t.Helper()
	name := "refuse_" + strings.NewReplacer("-", "_").Replace(id)
	stmts := map[database.Dialect][]string{
		database.SQLite: {fmt.Sprintf(`CREATE TRIGGER %s BEFORE INSERT ON bus_messages WHEN NEW.uuid = '%s'
			BEGIN SELECT RAISE(ABORT, 'refused message'); END`, name, id)},
		database.Postgres: {
			fmt.Sprintf(`CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			   IF NEW.uuid = '%s' THEN RAISE EXCEPTION 'refused message'; END IF;
			   RETURN NEW;
			 END $$`, name, id),
			fmt.Sprintf(`CREATE TRIGGER %s BEFORE INSERT ON bus_messages FOR EACH ROW EXECUTE FUNCTION %s()`, name, name),
		},
	}[db.Dialect()]
	for _, s := range stmts {
		_, err := db.ExecContext(context.Background(), s)
		require.NoError(t, err)
	}
}
