package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/httpserver"
)

// The audit routes; all require an admin.
const (
	EventsPath     = "/api/audit/events"
	VerifyPath     = "/api/audit/verify"
	CheckpointPath = "/api/audit/checkpoint"
)

// API serves the audit routes.
type API struct {
	store *Store
	cp    *Checkpointer
}

// NewAPI returns the routes' handlers; cp may be nil (then POST /api/audit/checkpoint is not
// served).
func NewAPI(s *Store, cp *Checkpointer) *API { return &API{store: s, cp: cp} }

// Routes returns GET /api/audit/events, GET /api/audit/verify and POST
// /api/audit/checkpoint, admins only.
func (a *API) Routes() []httpserver.Route {
	routes := []httpserver.Route{
		{Method: http.MethodGet, Path: EventsPath, Handler: http.HandlerFunc(a.list), Auth: httpserver.RequireAdmin},
		{Method: http.MethodGet, Path: VerifyPath, Handler: http.HandlerFunc(a.verify), Auth: httpserver.RequireAdmin},
	}
	if a.cp != nil {
		routes = append(routes, httpserver.Route{Method: http.MethodPost, Path: CheckpointPath, Handler: http.HandlerFunc(a.checkpoint), Auth: httpserver.RequireAdmin})
	}
	return routes
}

// CheckpointJSON is the body of POST /api/audit/checkpoint.
type CheckpointJSON struct {
	Checkpoint
	// Text is the checkpoint as `platform audit verify --checkpoint` takes it.
	Text string `json:"checkpoint"`
}

// checkpoint serves POST /api/audit/checkpoint: it takes a checkpoint now (logged,
// published and exposed like the periodic ones) and returns it, for the caller to keep
// outside the database.
func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := a.cp.Take(r.Context())
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, CheckpointJSON{Checkpoint: cp, Text: cp.String()})
}

// EntryJSON is an entry as the API shows it: the record's fields and the chain's.
type EntryJSON struct {
	ID         int64     `json:"id"`
	MessageID  string    `json:"messageId"`
	RecordedAt time.Time `json:"recordedAt"`
	Record
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// ListJSON is the body of GET /api/audit/events.
type ListJSON struct {
	Items      []EntryJSON    `json:"items"`
	TotalItems int            `json:"totalItems"`
	PageInfo   map[string]any `json:"pageInfo"`
}

// list serves GET /api/audit/events?actor=&eventId=&status=&from=&to=&limit=&cursor=
// (from and to are RFC 3339 times), newest first.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Actor: q.Get("actor"), EventID: q.Get("eventId"), Status: q.Get("status"), Cursor: q.Get("cursor")}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "%s must be an RFC 3339 time such as 2026-05-01T00:00:00Z", name))
				return
			}
			*dst = t
		}
	}
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
	body := ListJSON{Items: make([]EntryJSON, 0, len(page.Items)), TotalItems: page.TotalItems, PageInfo: map[string]any{}}
	for _, e := range page.Items {
		body.Items = append(body.Items, EntryJSON{ID: e.ID, MessageID: e.MessageID, RecordedAt: e.RecordedAt, Record: e.Record, PrevHash: e.PrevHash, Hash: e.Hash})
	}
	if page.NextCursor != "" {
		body.PageInfo["nextCursor"] = page.NextCursor
	}
	httpserver.WriteJSON(w, http.StatusOK, body)
}

// verify serves GET /api/audit/verify?checkpoint=ROWS:HASH (repeatable, optional):
// {"ok", "checked", "firstBrokenId", "reason"}, 200 whether or not the chain is intact; 400
// for a malformed checkpoint.
func (a *API) verify(w http.ResponseWriter, r *http.Request) {
	var cps []Checkpoint
	for _, v := range r.URL.Query()["checkpoint"] {
		cp, err := ParseCheckpoint(v)
		if err != nil {
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "%v", err))
			return
		}
		cps = append(cps, cp)
	}
	res, err := Verify(r.Context(), a.store.db, cps...)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, res)
}

// RunVerify is `platform audit verify [--checkpoint ROWS:HASH]...`: it checks the chain on
// db against the checkpoints, prints the outcome, and returns the exit code: 0 when the
// chain is intact and extends every checkpoint, 1 when a row is broken, the log is shorter
// than a checkpoint or differs from it (one line on stderr), or the check failed.
func RunVerify(ctx context.Context, db *database.DB, stdout, stderr io.Writer, checkpoints ...Checkpoint) int {
	res, err := Verify(ctx, db, checkpoints...)
	if err != nil {
		fmt.Fprintf(stderr, "platform: audit verify: %v\n", err)
		return 1
	}
	if !res.OK {
		fmt.Fprintf(stderr, "platform: audit log broken at row %d: %s (%d rows checked)\n", *res.FirstBrokenID, res.Reason, res.Checked)
		return 1
	}
	if len(checkpoints) > 0 {
		fmt.Fprintf(stdout, "audit log OK: %d rows checked, %d checkpoints matched\n", res.Checked, len(checkpoints))
		return 0
	}
	fmt.Fprintf(stdout, "audit log OK: %d rows checked\n", res.Checked)
	return 0
}
