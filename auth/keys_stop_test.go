package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/background/backgroundtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
)

// slowPurgeStore is a store whose purge of expired keys hangs until its context ends, like
// a database query stuck behind a lock.
type slowPurgeStore struct {
	auth.Store
	reached chan struct{}
}

func (s slowPurgeStore) PurgePublicKeys(ctx context.Context, _ time.Time) (int64, error) {
	select {
	case s.reached <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestStopCancelsKeyMaintenance: Stop must not wait for a key rotation-and-purge round that
// is stuck on the store; it cancels the round and returns within its context.
func TestStopCancelsKeyMaintenance(t *testing.T) {
	t.Parallel()
	store := slowPurgeStore{Store: auth.NewMemoryStore(), reached: make(chan struct{}, 1)}
	svc, err := auth.New(auth.Options{
		Store: store, Publisher: &eventsvctest.Recorder{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		BaseURL: "http://stagebus.test", KeyRotation: time.Second, // the loop's first round comes a second after start
	})
	require.NoError(t, err)
	require.NoError(t, svc.Start(context.Background()))
	<-store.reached

	// Before Stop cancelled the round, it waited for the round's own one-minute timeout;
	// the guard below sits well before that.
	backgroundtest.RequireStopCancels(t, "auth Service", svc.Stop, 14*time.Second)
}
