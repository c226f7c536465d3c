package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/background/backgroundtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/database/databasetest"
)

// slowReader is a host that never answers: Read returns only when its context ends.
type slowReader struct{ reached chan struct{} }

func (slowReader) Reads(string) bool { return true }

func (r slowReader) Read(ctx context.Context, _ string) ([]byte, error) {
	select {
	case r.reached <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestLocationsStopCancelsARead: Stop must not wait for a configured location's read that is
// stuck on a slow host; it cancels the read and returns within its context.
func TestLocationsStopCancelsARead(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t, databasetest.SQLite(t, catalog.Migrations))
	reader := slowReader{reached: make(chan struct{}, 1)}
	locs := catalog.NewLocations(store, []catalog.Reader{reader}, nil,
		[]catalog.LocationConfig{{Type: catalog.LocationURL, Target: "https://slow.test/acme/x/blob/main/catalog-info.yaml"}},
		t.TempDir(), zerolog.Nop(), prometheus.NewRegistry())
	require.NoError(t, locs.Start(context.Background()))
	<-reader.reached

	// Before Stop cancelled the read, it waited for the read's own one-minute timeout; the
	// guard below sits well before that.
	backgroundtest.RequireStopCancels(t, "catalog Locations", locs.Stop, 14*time.Second)
}
