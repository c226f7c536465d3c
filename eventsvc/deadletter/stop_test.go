package deadletter_test

import (
	"context"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/background/backgroundtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
)

// TestStopCancelsABlockedPurge: Stop must not wait for a purge that is stuck behind a lock
// held elsewhere; it cancels the purge and returns within its context (fx's stop deadline).
func TestStopCancelsABlockedPurge(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, deadletter.Migrations, func(t *testing.T, db *database.DB) {
		// Another writer holds the table: SQLite transactions take the write lock when they
		// begin; PostgreSQL needs an explicit lock.
		tx, err := db.BeginTx(context.Background(), nil)
		require.NoError(t, err)
		defer tx.Rollback() //nolint:errcheck // the test's lock, released at the end
		if db.Dialect() == database.Postgres {
			_, err = tx.Exec(`LOCK TABLE event_dead_letters IN ACCESS EXCLUSIVE MODE`)
		} else {
			_, err = tx.Exec(`DELETE FROM event_dead_letters WHERE id = 'none'`)
		}
		require.NoError(t, err)

		s := deadletter.NewStore(db, deadletter.Config{Retention: 24 * time.Hour}, zerolog.Nop(), prometheus.NewRegistry())
		require.NoError(t, s.Start(context.Background())) // purges at once: blocked by the lock

		// Before Stop cancelled the purge, it waited for the purge's own timeout (1 minute,
		// or SQLite's 10-second busy timeout); the guard below sits between.
		backgroundtest.RequireStopCancels(t, "deadletter Store", s.Stop, 7*time.Second)
	})
}
