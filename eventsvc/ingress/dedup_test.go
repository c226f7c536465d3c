package ingress_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

func startDedup(t *testing.T, db *database.DB) *ingress.Dedup {
	t.Helper()
	d := ingress.NewDedup(db, 72*time.Hour, zerolog.Nop(), nil)
	require.NoError(t, d.Start(context.Background()))
	t.Cleanup(func() { _ = d.Stop(context.Background()) })
	return d
}

// TestDedupContract runs on SQLite and PostgreSQL.
func TestDedupContract(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, ingress.DedupMigrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		d := startDedup(t, db)

		t.Run("claim, confirm, duplicate", func(t *testing.T) {
			c, err := d.Claim(ctx, "github", "d-1")
			require.NoError(t, err)
			require.Equal(t, ingress.Claimed, c)
			c, err = d.Claim(ctx, "github", "d-1")
			require.NoError(t, err)
			require.Equal(t, ingress.Pending, c, "being published")
			d.Confirm("github", "d-1")
			require.Eventually(t, func() bool {
				c, err := d.Claim(ctx, "github", "d-1")
				return err == nil && c == ingress.Duplicate
			}, 5*time.Second, 5*time.Millisecond)
			c, err = d.Claim(ctx, "gitlab", "d-1")
			require.NoError(t, err)
			require.Equal(t, ingress.Claimed, c, "ids are per topic")
		})

		t.Run("release lets the retry in", func(t *testing.T) {
			c, err := d.Claim(ctx, "github", "d-2")
			require.NoError(t, err)
			require.Equal(t, ingress.Claimed, c)
			require.NoError(t, d.Release(ctx, "github", "d-2"))
			c, err = d.Claim(ctx, "github", "d-2")
			require.NoError(t, err)
			require.Equal(t, ingress.Claimed, c)
		})

		t.Run("a stale pending claim is taken over", func(t *testing.T) {
			other := ingress.NewDedup(db, 72*time.Hour, zerolog.Nop(), nil)
			other.StaleAfter = time.Millisecond
			require.NoError(t, other.Start(ctx))
			defer other.Stop(ctx) //nolint:errcheck
			c, err := d.Claim(ctx, "github", "d-3")
			require.NoError(t, err)
			require.Equal(t, ingress.Claimed, c)
			time.Sleep(5 * time.Millisecond) // the first claimant "died" while publishing
			c, err = other.Claim(ctx, "github", "d-3")
			require.NoError(t, err)
			require.Equal(t, ingress.Claimed, c)
		})

		t.Run("concurrent claims across instances: exactly one wins", func(t *testing.T) {
			instances := []*ingress.Dedup{d, startDedup(t, db), startDedup(t, db)}
			var mu sync.Mutex
			counts := map[ingress.Claim]int{}
			var wg sync.WaitGroup
			for i := range 60 {
				wg.Go(func() {
					c, err := instances[i%3].Claim(ctx, "github", "race")
					require.NoError(t, err)
					mu.Lock()
					counts[c]++
					mu.Unlock()
				})
			}
			wg.Wait()
			require.Equal(t, 1, counts[ingress.Claimed])
			require.Equal(t, 59, counts[ingress.Pending])
		})

		t.Run("a cancelled request is not recorded", func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := d.Claim(cctx, "github", "cancelled")
			require.ErrorIs(t, err, context.Canceled)
			c, err := d.Claim(ctx, "github", "cancelled")
			require.NoError(t, err)
			require.Equal(t, ingress.Claimed, c)
		})
	})
}
