package deadletter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/memory"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
)

// flaky fails until healed, then succeeds.
type flaky struct {
	healed atomic.Bool
	calls  atomic.Int32
	ok     chan string
}

func (f *flaky) subscription() eventsvc.Subscription {
	return eventsvc.Subscription{ID: "flaky", Topics: []string{"orders"}, Handler: func(_ context.Context, e eventsvc.Event) error {
		f.calls.Add(1)
		if !f.healed.Load() {
			return errors.New("warehouse unreachable")
		}
		f.ok <- e.ID
		return nil
	}}
}

type api struct {
	t   *testing.T
	srv *httpserver.Server
}

func (a api) do(method, path string, authorize bool) (int, map[string]any) {
	a.t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if authorize {
		httpservertest.Authorize(r)
	}
	w := httptest.NewRecorder()
	a.srv.Handler().ServeHTTP(w, r)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body
}

// TestDeadLetterLifecycle: a failing handler ends in the dead-letter list after maxAttempts;
// replay delivers it again; discard removes it.
func TestDeadLetterLifecycle(t *testing.T) {
	f := &flaky{ok: make(chan string, 1)}
	var svc *eventsvc.Service
	var srv *httpserver.Server
	app := fxtest.New(t,
		fx.Supply(configtest.Tree(t, `
backend:
  listen:
    port: 0
  database:
    connection: ':memory:'
events:
  retry:
    maxAttempts: 3
    initialInterval: 5ms
    maxInterval: 10ms
`)),
		config.Module,
		fx.Supply(zerolog.Nop()),
		httpserver.Module,
		httpservertest.Module(httpservertest.User("user:default/ops", true)),
		database.Module,
		eventsvc.Module,
		memory.Module,
		deadletter.Module,
		fx.Provide(eventsvc.AsSubscription(f.subscription)),
		fx.Populate(&svc, &srv),
	)
	app.RequireStart()
	defer app.RequireStop()
	a := api{t: t, srv: srv}

	code, _ := a.do(http.MethodGet, "/api/events/dead-letters", false)
	require.Equal(t, http.StatusUnauthorized, code, "credentials are required")

	ctx := context.Background()
	require.NoError(t, svc.Publish(ctx, eventsvc.Event{ID: "order-1", Topic: "orders", Payload: []byte(`{"sku":"x"}`)}))
	require.NoError(t, svc.Publish(ctx, eventsvc.Event{ID: "order-2", Topic: "orders", Payload: []byte{0xff}}))

	var items []any
	require.Eventually(t, func() bool {
		code, body := a.do(http.MethodGet, "/api/events/dead-letters?subscription=flaky&topic=orders", true)
		if code != http.StatusOK {
			return false
		}
		items = body["items"].([]any)
		return len(items) == 2
	}, 10*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 6, f.calls.Load(), "three attempts each")
	byEvent := map[string]map[string]any{}
	for _, it := range items {
		m := it.(map[string]any)
		byEvent[m["eventId"].(string)] = m
	}
	first := byEvent["order-1"]
	require.Equal(t, "flaky", first["subscription"])
	require.Equal(t, "orders", first["topic"])
	require.Equal(t, "warehouse unreachable", first["error"])
	require.EqualValues(t, 3, first["attempts"])
	require.Equal(t, map[string]any{"sku": "x"}, first["payload"])
	require.Equal(t, "/w==", byEvent["order-2"]["payloadBase64"])

	// Replay after the downstream recovered: delivered again, then removed from the list.
	f.healed.Store(true)
	code, body := a.do(http.MethodPost, "/api/events/dead-letters/"+first["id"].(string)+"/replay", true)
	require.Equal(t, http.StatusAccepted, code, body)
	select {
	case id := <-f.ok:
		require.Equal(t, "order-1", id)
	case <-time.After(10 * time.Second):
		t.Fatal("replay did not reach the handler")
	}
	require.Eventually(t, func() bool {
		code, _ := a.do(http.MethodGet, "/api/events/dead-letters/"+first["id"].(string), true)
		return code == http.StatusNotFound
	}, 10*time.Second, 10*time.Millisecond, "a replayed dead letter is removed once handled")

	// Discard the other one.
	second := byEvent["order-2"]["id"].(string)
	code, _ = a.do(http.MethodDelete, "/api/events/dead-letters/"+second, true)
	require.Equal(t, http.StatusNoContent, code)
	code, body = a.do(http.MethodDelete, "/api/events/dead-letters/"+second, true)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "NotFoundError", body["error"].(map[string]any)["name"])
	code, body = a.do(http.MethodGet, "/api/events/dead-letters", true)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, body["items"])
	require.EqualValues(t, 0, body["totalItems"])

	code, _ = a.do(http.MethodGet, "/api/events/dead-letters?limit=0", true)
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = a.do(http.MethodPost, "/api/events/dead-letters/nope/replay", true)
	require.Equal(t, http.StatusNotFound, code)
}

// held is a Redeliverer that holds each replay until release, or refuses subscriptions
// that do not run.
type held struct {
	running string
	done    chan func(error)
}

func (h *held) Redeliver(subscription string, _ eventsvc.Event, done func(error)) error {
	if subscription != h.running {
		return fmt.Errorf("%w: %s", eventsvc.ErrNotRunning, subscription)
	}
	h.done <- done
	return nil
}

// TestReplayInProcess: Replay, as the console calls it, returns typed errors; one replay of
// a record at a time; the record goes once the event was handled, and stays when the
// subscription stopped first.
func TestReplayInProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := deadletter.NewStore(databasetest.SQLite(t, deadletter.Migrations), deadletter.Config{Retention: time.Hour}, zerolog.Nop(), nil)
	h := &held{running: "sub-a", done: make(chan func(error), 1)}
	a := deadletter.NewAPI(store, h)
	add := func(sub string) string {
		require.NoError(t, store.Add(ctx, letter(sub, "github", 1, time.Now())))
		page, err := store.List(ctx, deadletter.Filter{Subscription: sub, Limit: 1})
		require.NoError(t, err)
		return page.Items[0].ID
	}
	id := add("sub-a")

	_, err := a.Replay(ctx, "nope")
	require.ErrorIs(t, err, deadletter.ErrNotFound)
	rec, err := a.Replay(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "sub-a", rec.Subscription)
	_, err = a.Replay(ctx, id)
	require.ErrorIs(t, err, deadletter.ErrReplaying, "one replay of a record at a time")

	// The subscription stopped first: the record stays, and may be replayed again.
	(<-h.done)(errors.New("stopped"))
	_, err = store.Get(ctx, id)
	require.NoError(t, err)
	_, err = a.Replay(ctx, id)
	require.NoError(t, err)
	(<-h.done)(nil)
	_, err = store.Get(ctx, id)
	require.ErrorIs(t, err, deadletter.ErrNotFound, "handled: the record is gone")

	other := add("sub-b")
	rec, err = a.Replay(ctx, other)
	require.ErrorIs(t, err, eventsvc.ErrNotRunning)
	require.Equal(t, "sub-b", rec.Subscription)
	_, err = a.Replay(ctx, other)
	require.ErrorIs(t, err, eventsvc.ErrNotRunning, "a refused replay does not hold the record")
}
