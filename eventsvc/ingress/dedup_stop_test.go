package ingress_test

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
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// TestDedupStopCancelsABlockedPurge: Stop must not wait for a purge of old delivery ids that is
// stuck behind a lock held elsewhere; it cancels the purge and returns within its context.
func TestDedupStopCancelsABlockedPurge(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, ingress.DedupMigrations, func(t *testing.T, db *database.DB) {
		databasetest.HoldWriteLock(t, db, "ingress_deliveries") // another writer holds the table

		d := ingress.NewDedup(db, 72*time.Hour, zerolog.Nop(), prometheus.NewRegistry())
		require.NoError(t, d.Start(context.Background())) // purges at once: blocked by the lock

		// Before, Stop waited for the purge's own one-minute timeout (or SQLite's busy timeout).
		backgroundtest.RequireStopCancels(t, "ingress Dedup", d.Stop, 7*time.Second)
	})
}
