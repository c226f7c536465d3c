package deadletter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// Redeliverer hands an event to a running subscription again; *eventsvc.Service implements
// it.
type Redeliverer interface {
	Redeliver(subscription string, e eventsvc.Event, done func(error)) error
}

// API serves the dead-letter routes and replays dead letters for them and for the operator
// console (Replay). It is safe for concurrent use.
type API struct {
	store     *Store
	redeliver Redeliverer
	mu        sync.Mutex
	replaying map[string]bool
}

// NewAPI returns the API of the store's dead letters, replayed through r.
func NewAPI(store *Store, r Redeliverer) *API {
	return &API{store: store, redeliver: r, replaying: map[string]bool{}}
}

// Routes returns the dead-letter routes; they are for admins only.
func (a *API) Routes() []httpserver.Route {
	return []httpserver.Route{
		{Method: http.MethodGet, Path: "/api/events/dead-letters", Handler: http.HandlerFunc(a.list), Auth: httpserver.RequireAdmin},
		{Method: http.MethodGet, Path: "/api/events/dead-letters/{id}", Handler: http.HandlerFunc(a.get), Auth: httpserver.RequireAdmin},
		{Method: http.MethodPost, Path: "/api/events/dead-letters/{id}/replay", Handler: http.HandlerFunc(a.replay), Auth: httpserver.RequireAdmin},
		{Method: http.MethodDelete, Path: "/api/events/dead-letters/{id}", Handler: http.HandlerFunc(a.delete), Auth: httpserver.RequireAdmin},
	}
}

// recordJSON is a dead letter as the API shows it. The payload is inlined when it is JSON,
// else given in base64.
type recordJSON struct {
	ID            string            `json:"id"`
	Subscription  string            `json:"subscription"`
	Topic         string            `json:"topic"`
	EventID       string            `json:"eventId"`
	Key           string            `json:"key,omitempty"`
	EventTime     time.Time         `json:"eventTime"`
	Metadata      map[string]string `json:"metadata"`
	Payload       json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64 string            `json:"payloadBase64,omitempty"`
	Error         string            `json:"error"`
	Attempts      int               `json:"attempts"`
	FailedAt      time.Time         `json:"failedAt"`
}

func toJSON(r Record) recordJSON {
	out := recordJSON{
		ID: r.ID, Subscription: r.Subscription, Topic: r.Topic, EventID: r.Event.ID, Key: r.Event.Key,
		EventTime: r.Event.Time, Metadata: r.Event.Metadata, Error: r.Error, Attempts: r.Attempts, FailedAt: r.FailedAt,
	}
	if json.Valid(r.Event.Payload) {
		out.Payload = r.Event.Payload
	} else {
		out.PayloadBase64 = base64.StdEncoding.EncodeToString(r.Event.Payload)
	}
	return out
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Topic: q.Get("topic"), Subscription: q.Get("subscription"), Cursor: q.Get("cursor")}
	limit, err := httpserver.QueryInt(r, "limit", 0, 1, 500) // 0: the store's default
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	f.Limit = limit
	page, err := a.store.List(r.Context(), f)
	if errors.Is(err, ErrBadCursor) {
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "invalid cursor; use the nextCursor of a previous page"))
		return
	}
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	items := make([]recordJSON, 0, len(page.Items))
	for _, it := range page.Items {
		items = append(items, toJSON(it))
	}
	body := map[string]any{"items": items, "totalItems": page.TotalItems, "pageInfo": map[string]any{}}
	if page.NextCursor != "" {
		body["pageInfo"] = map[string]any{"nextCursor": page.NextCursor}
	}
	httpserver.WriteJSON(w, http.StatusOK, body)
}

func (a *API) lookup(w http.ResponseWriter, r *http.Request) (Record, bool) {
	rec, err := a.store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusNotFound, "no dead letter with id %s", r.PathValue("id")))
		return Record{}, false
	}
	if err != nil {
		httpserver.WriteError(w, r, err)
		return Record{}, false
	}
	return rec, true
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	if rec, ok := a.lookup(w, r); ok {
		httpserver.WriteJSON(w, http.StatusOK, toJSON(rec))
	}
}

// ErrReplaying means a replay of the dead letter is under way in this process.
var ErrReplaying = errors.New("dead letter is being replayed")

// Replay hands the event of the dead letter id to its subscription again and returns at
// once: the record is removed when the event was handled or dead-lettered anew, and kept
// when the subscription stopped first. It returns the record whenever it was found. The
// errors are ErrNotFound, ErrReplaying (one replay of a record at a time), an error that
// wraps eventsvc.ErrNotRunning (the subscription does not run in this process: replay it
// where it runs), or the store's. The HTTP route and the console share one API, and so the
// one-at-a-time rule.
func (a *API) Replay(ctx context.Context, id string) (Record, error) {
	rec, err := a.store.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	a.mu.Lock()
	if a.replaying[rec.ID] {
		a.mu.Unlock()
		return rec, fmt.Errorf("%w: %s", ErrReplaying, rec.ID)
	}
	a.replaying[rec.ID] = true
	a.mu.Unlock()
	log := zerolog.Ctx(ctx).With().Str("dead_letter", rec.ID).Str("subscription", rec.Subscription).Logger()
	err = a.redeliver.Redeliver(rec.Subscription, rec.Event, func(err error) {
		defer a.done(rec.ID)
		if err != nil {
			log.Warn().Err(err).Msg("dead-letter replay interrupted; the record is kept")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.store.Delete(ctx, rec.ID); err != nil && !errors.Is(err, ErrNotFound) {
			log.Error().Err(err).Msg("dead-letter replay done but the record could not be removed")
		}
	})
	if err != nil {
		a.done(rec.ID)
		return rec, fmt.Errorf("replay dead letter %s: %w", rec.ID, err)
	}
	return rec, nil
}

// replay answers 202 once the event was handed to its subscription (see Replay).
func (a *API) replay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := a.Replay(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusNotFound, "no dead letter with id %s", id))
	case errors.Is(err, ErrReplaying):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusConflict, "dead letter %s is being replayed", rec.ID))
	case errors.Is(err, eventsvc.ErrNotRunning):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusConflict, "subscription %s does not run in this instance; replay it where it runs", rec.Subscription))
	case err != nil:
		httpserver.WriteError(w, r, err)
	default:
		httpserver.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "replaying", "id": rec.ID})
	}
}

func (a *API) done(id string) {
	a.mu.Lock()
	delete(a.replaying, id)
	a.mu.Unlock()
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	err := a.store.Delete(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusNotFound, "no dead letter with id %s", r.PathValue("id")))
		return
	}
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
