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
		databasetest.HoldWriteLock(t, db, "event_dead_letters") // another writer holds the table

		s := deadletter.NewStore(db, deadletter.Config{Retention: 24 * time.Hour}, zerolog.Nop(), prometheus.NewRegistry())
		require.NoError(t, s.Start(context.Background())) // purges at once: blocked by the lock

		// Before Stop cancelled the purge, it waited for the purge's own timeout (1 minute,
		// or SQLite's 10-second busy timeout); the guard below sits between.
		backgroundtest.RequireStopCancels(t, "deadletter Store", s.Stop, 7*time.Second)
	})
}
