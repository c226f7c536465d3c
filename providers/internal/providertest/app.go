package providertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/eventsvc/memory"
	"github.com/stagebus/stagebus/httpserver"
)

// backend is the part of every test configuration that is not about events: a free port and
// an in-memory SQLite database.
const backend = `
backend:
  listen:
    port: 0
  database:
    connection: ':memory:'
`

// modules are the real modules of the webhook path, the provider module, and the
// configuration tree of yaml (an events: section; backend: is added).
func modules(t testing.TB, yaml string, provider fx.Option) fx.Option {
	return fx.Options(
		fx.Supply(configtest.Tree(t, backend+yaml)),
		config.Module,
		fx.Supply(zerolog.Nop()),
		httpserver.Module,
		database.Module,
		eventsvc.Module,
		memory.Module,
		deadletter.Module,
		ingress.Module,
		provider,
	)
}

// App is a started application of the real modules with a provider module and a test
// subscription.
type App struct {
	t   testing.TB
	srv *httpserver.Server
	reg *prometheus.Registry

	mu       sync.Mutex
	received []eventsvc.Event
}

// subscriptionID is the id of the test subscription.
const subscriptionID = "providertest"

// Start starts the application for the configuration yaml (an events: section) with the
// provider module, and a subscription on topics that records what it receives. It stops when
// the test ends.
func Start(t testing.TB, yaml string, provider fx.Option, topics ...string) *App {
	t.Helper()
	a := &App{t: t}
	sub := eventsvc.Subscription{ID: subscriptionID, Topics: topics, Handler: func(_ context.Context, e eventsvc.Event) error {
		a.mu.Lock()
		a.received = append(a.received, e)
		a.mu.Unlock()
		return nil
	}}
	app := fxtest.New(t,
		modules(t, yaml, provider),
		fx.Provide(eventsvc.AsSubscription(func() eventsvc.Subscription { return sub })),
		fx.Populate(&a.srv, &a.reg),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return a
}

// StartError builds and starts the application as Start does, stops it if it started, and
// returns the error that prevented it from starting, if any.
func StartError(t testing.TB, yaml string, provider fx.Option) error {
	t.Helper()
	var srv *httpserver.Server
	app := fx.New(modules(t, yaml, provider), fx.Populate(&srv), fx.NopLogger)
	if err := app.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		return err
	}
	require.NoError(t, app.Stop(ctx))
	return nil
}

// Post sends body with the headers (and Content-Type: application/json unless set) to
// POST /api/events/http/<topic> through the server's handler.
func (a *App) Post(topic string, h http.Header, body []byte) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	a.srv.Handler().ServeHTTP(w, request(topic, h, body))
	return w
}

// Await waits until the test subscription received an event with the id on each of the
// topics, and returns those events in the order of topics.
func (a *App) Await(id string, topics ...string) []eventsvc.Event {
	a.t.Helper()
	var found []eventsvc.Event
	require.Eventually(a.t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		found = found[:0]
		for _, topic := range topics {
			i := slices.IndexFunc(a.received, func(e eventsvc.Event) bool { return e.ID == id && e.Topic == topic })
			if i < 0 {
				return false
			}
			found = append(found, a.received[i])
		}
		return true
	}, wait, 5*time.Millisecond, "events %s on %v", id, topics)
	return found
}

// Published returns how many events were published on the bus, on any topic
// (stagebus_events_published_total). The ingress answers only after publishing, so the count
// is exact as soon as a request was answered.
func (a *App) Published() float64 {
	a.t.Helper()
	mfs, err := a.reg.Gather()
	require.NoError(a.t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "stagebus_events_published_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
