package ingress_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// onceFixture is an ingress on the SQL bus (on db), which records delivery ids with the
// events; the deduplication table is left empty.
type onceFixture struct {
	fixture
	svc *eventsvc.Service
	db  *database.DB
}

func newOnceIngress(t *testing.T, db *database.DB) onceFixture {
	t.Helper()
	var busCfg sqlbus.Config
	busCfg.SetDefaults()
	bus, err := sqlbus.New(db, busCfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	svc, err := eventsvc.New(eventsvc.Options{Backend: bus, DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.NoError(t, svc.Start(t.Context()))
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	require.True(t, svc.CanPublishOnce())

	var cfg ingress.Config
	cfg.SetDefaults()
	cfg.Topics = []string{"forge"}
	require.NoError(t, cfg.Validate())
	reg := prometheus.NewRegistry()
	in, err := ingress.New(ingress.Params{Config: cfg, Publisher: svc, Dedup: startDedup(t, db), Logger: zerolog.Nop(), Registerer: reg,
		Sources: []ingress.Source{providerSource()}})
	require.NoError(t, err)
	return onceFixture{fixture: fixture{in: in, reg: reg}, svc: svc, db: db}
}

// count returns the bus messages of topic with id.
func (f onceFixture) count(t *testing.T, topic, id string) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM bus_messages WHERE topic = $1 AND uuid = $2`, topic, id).Scan(&n))
	return n
}

// TestDeliveryRecordedWithItsEvents: on the SQL bus a webhook is one transaction — the delivery
// id with the event and its sub-topic event — so a redelivery answers duplicate only when the
// events are on the bus, concurrent copies of one delivery publish it once (no 409), and the
// deduplication table of the other buses is not written.
func TestDeliveryRecordedWithItsEvents(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, append(append([]database.Migration{}, ingress.DedupMigrations...), sqlbus.Migrations...), func(t *testing.T, db *database.DB) {
		f := newOnceIngress(t, db)
		body := `{"ref":"refs/heads/main"}`

		w, _ := f.post(t, forgeRequest("d-1", "push", body))
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		require.Equal(t, 1, f.count(t, "forge", "d-1"))
		require.Equal(t, 1, f.count(t, "forge.push", "d-1"))
		w, resp := f.post(t, forgeRequest("d-1", "push", body))
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, "duplicate", resp["status"])

		codes := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 30 {
			wg.Go(func() {
				w, _ := f.post(t, forgeRequest("d-2", "push", body))
				mu.Lock()
				codes[w.Code]++
				mu.Unlock()
			})
		}
		wg.Wait()
		require.Equal(t, map[int]int{http.StatusAccepted: 1, http.StatusOK: 29}, codes, "one copy publishes, the others are duplicates")
		require.Equal(t, 1, f.count(t, "forge", "d-2"))
		require.Equal(t, 1, f.count(t, "forge.push", "d-2"))

		var claims int
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM ingress_deliveries`).Scan(&claims))
		require.Zero(t, claims, "no claim, no confirmation: the bus records the delivery")
		require.Equal(t, 2.0, ingressCounter(t, f.fixture, "forge", ingress.ResultAccepted))
		require.Equal(t, 30.0, ingressCounter(t, f.fixture, "forge", ingress.ResultDuplicate))
	})
}

// TestRefusedDeliveryIsAcceptedOnRetry: when the bus cannot take the webhook, the answer is 503
// and nothing is recorded, so the sender's retry is accepted, not answered duplicate.
func TestRefusedDeliveryIsAcceptedOnRetry(t *testing.T) {
	t.Parallel()
	db := databasetest.SQLite(t, append(append([]database.Migration{}, ingress.DedupMigrations...), sqlbus.Migrations...))
	f := newOnceIngress(t, db)
	body := `{"ref":"refs/heads/main"}`
	// The database refuses the sub-topic event of this delivery once.
	_, err := db.ExecContext(t.Context(), `CREATE TRIGGER refuse_once BEFORE INSERT ON bus_messages WHEN NEW.topic = 'forge.push'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`)
	require.NoError(t, err)
	w, _ := f.post(t, forgeRequest("d-9", "push", body))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "5", w.Header().Get("Retry-After"))
	require.Zero(t, f.count(t, "forge", "d-9"), "all or nothing: the event is not on the bus without its sub-topic event")

	_, err = db.ExecContext(t.Context(), `DROP TRIGGER refuse_once`)
	require.NoError(t, err)
	w, _ = f.post(t, forgeRequest("d-9", "push", body))
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	require.Equal(t, 1, f.count(t, "forge", "d-9"))
	require.Equal(t, 1, f.count(t, "forge.push", "d-9"))
}
