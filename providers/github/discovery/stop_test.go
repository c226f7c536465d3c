package discovery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/background/backgroundtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/github/discovery"
)

// TestEntityProviderStopCancelsASync: Stop must not wait for a full organization sync that
// is stuck on a slow GitHub API; it cancels the sync and returns within its context (fx gives
// OnStop hooks a deadline), so the application stops in time.
func TestEntityProviderStopCancelsASync(t *testing.T) {
	t.Parallel()
	reached := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case reached <- struct{}{}:
		default:
		}
		<-release // a GitHub that does not answer until the test ends
		http.Error(w, "too late", http.StatusServiceUnavailable)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs before slow.Close

	model, err := catalog.NewModel(nil)
	require.NoError(t, err)
	store := catalog.NewStore(databaseForTest(t), &eventsvctest.Recorder{}, model, zerolog.Nop())
	var cfg discovery.ProviderConfig
	cfg.SetDefaults()
	cfg.Organization, cfg.Host = "acme", "github.test"
	p, err := discovery.NewEntityProvider("main", cfg, discovery.Integrations{{Host: "github.test", APIBaseURL: slow.URL}}, store, zerolog.Nop(),
		discovery.WithRegisterer(prometheus.NewRegistry()))
	require.NoError(t, err)

	require.NoError(t, p.Start(context.Background()))
	<-reached // the start-up sync is listing the organization's repositories

	// A stop context like fx's OnStop deadline. The fake GitHub answers only once the test
	// ends, so before Stop cancelled the sync, the one thing that ended it was the HTTP
	// client's 30-second timeout; the guard below sits well between the two.
	backgroundtest.RequireStopCancels(t, "EntityProvider", p.Stop, 14*time.Second)
}
