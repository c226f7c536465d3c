package auditpage

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/database"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/subscribers/audit"
)

var (
	//go:embed templates/*.html
	templates embed.FS
	//go:embed messages/*.yaml
	messages embed.FS
)

// Messages are the page's en.yaml and de.yaml.
var Messages = i18n.Source{Name: "console/auditpage", FS: i18n.Sub(messages, "messages")}

const (
	// pageSize is how many records the list shows.
	pageSize = 50
	// verifyWriteTimeout replaces the server's write deadline while the chain is verified:
	// Verify reads every row, which takes minutes on a long log.
	verifyWriteTimeout = 5 * time.Minute
	// hashShown is how many hex digits of a hash the page shows.
	hashShown = 12
	// EventCheckpoint is the audit event id of a checkpoint taken on the page.
	EventCheckpoint = "console-audit-checkpoint"
)

// statuses are the records' statuses (audit.ParseRecord's), in the filter's order.
var statuses = []string{"initiated", "succeeded", "failed"}

// severities are the records' severities.
var severities = []string{"low", "medium", "high", "critical"}

// eventIDs are the event ids the filter suggests: auth's, and the page's own.
var eventIDs = []string{auth.EventSignIn, auth.EventTokenIssue, auth.EventAuthenticate, auth.EventAuthorize,
	auth.EventExternalAccess, auth.EventSignInRefresh, auth.EventLogout, EventCheckpoint}

// Auditor records an admin action; *auth.Service implements it.
type Auditor interface {
	Audit(ctx context.Context, r *http.Request, rec auth.AuditRecord)
}

var _ Auditor = (*auth.Service)(nil)

// page serves the Audit log page.
type page struct {
	store        *audit.Store
	checkpointer *audit.Checkpointer
	db           *database.DB // the audit log's database, for audit.Verify and audit.Head
	history      *sqlbus.History
	auditor      Auditor
}

// filterForm is the filter as the form shows it.
type filterForm struct {
	Actor, EventID, Status, From, To string
}

// listData is the page's data.
type listData struct {
	Form       filterForm
	Query      string // the filter as a query string ("" for none), for the forms and links
	Statuses   []string
	EventIDs   []string
	Filtered   bool
	Rows       []row
	Total      int
	Older      string // link to the next page, "" at the end
	Chain      chain
	VerifyPath string // the verify form's action
	TakePath   string // the checkpoint form's action
}

// chain is the chain panel: its head, the last checkpoint and a verification's outcome.
type chain struct {
	Rows       int64
	Hash       string // the head's hash, shortened
	Checkpoint *checkpoint
	Result     *audit.VerifyResult // nil: not verified by this request
	BrokenID   int64
}

// checkpoint is the last checkpoint and where it was found.
type checkpoint struct {
	audit.Checkpoint
	Short string // the hash, shortened
	// Seq is the checkpoint's event in the history; 0: the one this process took.
	Seq int64
}

// row is one record of the list.
type row struct {
	audit.Entry
	KnownStatus   bool
	KnownSeverity bool
	StatusClass   string
	Short         string // the hash, shortened
	Meta          []kv
}

type kv struct{ Name, Value string }

// parseFilter reads the list's query: actor, eventId, status, from and to (as GET
// /api/audit/events, times also as the form's UTC yyyy-mm-ddThh:mm[:ss]) and cursor.
func parseFilter(q url.Values) (audit.Filter, filterForm, url.Values, error) {
	f := audit.Filter{Actor: q.Get("actor"), EventID: q.Get("eventId"), Status: q.Get("status"), Cursor: q.Get("cursor"), Limit: pageSize}
	form := filterForm{Actor: f.Actor, EventID: f.EventID, Status: f.Status}
	canon := url.Values{}
	for name, val := range map[string]string{"actor": f.Actor, "eventId": f.EventID, "status": f.Status} {
		if val != "" {
			canon.Set(name, val)
		}
	}
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		return f, form, nil, httpserver.Errorf(http.StatusBadRequest, "status must be initiated, succeeded or failed, got %q", f.Status)
	}
	for _, tf := range []struct {
		name string
		dst  *time.Time
		show *string
	}{{"from", &f.From, &form.From}, {"to", &f.To, &form.To}} {
		v := q.Get(tf.name)
		if v == "" {
			continue
		}
		t, err := parseTime(v)
		if err != nil {
			return f, form, nil, httpserver.Errorf(http.StatusBadRequest, "%s must be a time such as 2026-05-01T12:00 (UTC) or 2026-05-01T12:00:00+02:00, got %q", tf.name, v)
		}
		*tf.dst, *tf.show = t, formTime(t)
		canon.Set(tf.name, t.Format(time.RFC3339Nano))
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, form, nil, httpserver.Errorf(http.StatusBadRequest, "from must be before to")
	}
	return f, form, canon, nil
}

// formLayouts are the values of <input type="datetime-local">, read as UTC.
var formLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	var err error
	for _, layout := range formLayouts {
		var t time.Time
		if t, err = time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// formTime is t as a datetime-local value, in UTC.
func formTime(t time.Time) string {
	if t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format(formLayouts[0])
	}
	return t.Format(formLayouts[1])
}

func short(hash string) string {
	if len(hash) > hashShown {
		return hash[:hashShown]
	}
	return hash
}

// data reads the page's data for query q.
func (p *page) data(ctx context.Context, q url.Values) (listData, error) {
	f, form, canon, err := parseFilter(q)
	if err != nil {
		return listData{}, err
	}
	d := listData{Form: form, Query: canon.Encode(), Statuses: statuses, EventIDs: eventIDs, Filtered: len(canon) > 0}
	d.VerifyPath, d.TakePath = withQuery("/audit/verify", d.Query), withQuery("/audit/checkpoint", d.Query)
	pg, err := p.store.List(ctx, f)
	if errors.Is(err, audit.ErrBadCursor) {
		return listData{}, httpserver.Errorf(http.StatusBadRequest, "invalid cursor; use the link to older records")
	}
	if err != nil {
		return listData{}, err
	}
	d.Total = pg.TotalItems
	for _, e := range pg.Items {
		d.Rows = append(d.Rows, newRow(e))
	}
	if pg.NextCursor != "" {
		older := url.Values{}
		for k, v := range canon {
			older[k] = v
		}
		older.Set("cursor", pg.NextCursor)
		d.Older = "/audit?" + older.Encode()
	}
	head, err := audit.Head(ctx, p.db)
	if err != nil {
		return listData{}, err
	}
	d.Chain.Rows, d.Chain.Hash = head.Rows, short(head.Hash)
	if d.Chain.Checkpoint, err = p.lastCheckpoint(ctx); err != nil {
		return listData{}, err
	}
	return d, nil
}

func withQuery(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}

func newRow(e audit.Entry) row {
	r := row{Entry: e, KnownStatus: slices.Contains(statuses, e.Status), KnownSeverity: slices.Contains(severities, e.SeverityLevel), Short: short(e.Hash)}
	switch e.Status {
	case "succeeded":
		r.StatusClass = "ok"
	case "failed":
		r.StatusClass = "bad"
	default:
		r.StatusClass = "warn"
	}
	for k, v := range e.Meta {
		r.Meta = append(r.Meta, kv{k, metaValue(v)})
	}
	sort.Slice(r.Meta, func(i, j int) bool { return r.Meta[i].Name < r.Meta[j].Name })
	return r
}

// metaValue shows a meta value: a string as it is, anything else as JSON.
func metaValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// lastCheckpoint is the checkpoint to verify against: the newest auth.audit.checkpoint event
// of the history (any instance's), else the last one this process took; nil when neither
// exists.
func (p *page) lastCheckpoint(ctx context.Context) (*checkpoint, error) {
	entries, err := p.history.Recent(ctx, audit.CheckpointTopic, 0, 1)
	if err != nil {
		return nil, err
	}
	if len(entries) == 1 {
		m, err := p.history.Get(ctx, entries[0].Seq)
		switch {
		case err == nil:
			cp, derr := decodeCheckpoint(m.Payload)
			if derr == nil {
				if cp.Time.IsZero() {
					cp.Time = m.Time
				}
				return &checkpoint{Checkpoint: cp, Short: short(cp.Hash), Seq: m.Seq}, nil
			}
			zerolog.Ctx(ctx).Warn().Err(derr).Int64("seq", m.Seq).Msg("audit checkpoint event unreadable; using this process's checkpoint")
		case !errors.Is(err, sqlbus.ErrNotFound): // purged since Recent: fall back
			return nil, err
		}
	}
	if cp, ok := p.checkpointer.Last(); ok {
		return &checkpoint{Checkpoint: cp, Short: short(cp.Hash)}, nil
	}
	return nil, nil
}

// decodeCheckpoint reads a checkpoint event's payload (the JSON of audit.Checkpoint) and
// checks it as audit.ParseCheckpoint does.
func decodeCheckpoint(payload []byte) (audit.Checkpoint, error) {
	var cp audit.Checkpoint
	if err := json.Unmarshal(payload, &cp); err != nil {
		return audit.Checkpoint{}, err
	}
	checked, err := audit.ParseCheckpoint(cp.String())
	if err != nil {
		return audit.Checkpoint{}, err
	}
	checked.Time = cp.Time
	return checked, nil
}

func (p *page) list(w http.ResponseWriter, r *http.Request, v *console.View) error {
	d, err := p.data(r.Context(), r.URL.Query())
	if err != nil {
		return err
	}
	return v.Render(w, http.StatusOK, "audit/audit", d)
}

// verify checks the chain against the last checkpoint, as GET /api/audit/verify does, and
// shows the page with the outcome. It changes nothing, but it reads the whole log, so it is a
// POST: a GET could be started from another site (a link or a redirect carries the SameSite=Lax
// session cookie) or by a prefetch, while a POST gets the cross-site check of every unsafe
// method. The outcome is rendered at once; reloading asks before it posts again.
func (p *page) verify(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ctx := r.Context()
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(verifyWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("audit verification keeps the server's write deadline")
	}
	d, err := p.data(ctx, r.URL.Query())
	if err != nil {
		return err
	}
	var cps []audit.Checkpoint
	if d.Chain.Checkpoint != nil {
		cps = append(cps, d.Chain.Checkpoint.Checkpoint)
	}
	res, err := audit.Verify(ctx, p.db, cps...)
	if err != nil {
		return err
	}
	d.Chain.Result = &res
	if res.FirstBrokenID != nil {
		d.Chain.BrokenID = *res.FirstBrokenID
	}
	// The page is the list's: the navigation and the language switch lead back to it.
	v.Path, v.URI = "/audit", withQuery("/audit", d.Query)
	return v.Render(w, http.StatusOK, "audit/audit", d)
}

// take takes a checkpoint now (logged, published and in the metrics like the
// periodic ones) and returns to the list; it is audited.
func (p *page) take(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ctx := r.Context()
	_, _, canon, err := parseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	rec := auth.AuditRecord{EventID: EventCheckpoint, SeverityLevel: auth.SeverityMedium, Status: auth.StatusSucceeded,
		Actor: auth.AuditActor{ActorID: v.Principal.Subject}}
	cp, err := p.checkpointer.Take(ctx)
	if err != nil {
		rec.Status, rec.Error = auth.StatusFailed, err.Error()
		p.auditor.Audit(ctx, r, rec)
		return httpserver.Errorf(http.StatusServiceUnavailable, "the checkpoint could not be taken: %v", err)
	}
	rec.Meta = map[string]any{"rows": cp.Rows, "hash": cp.Hash}
	p.auditor.Audit(ctx, r, rec)
	v.Redirect(w, withQuery("/audit", canon.Encode()), "notice.audit.checkpoint_taken")
	return nil
}
