package deadletterspage

import (
	"context"
	"embed"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/httpserver"
)

var (
	//go:embed templates/*.html
	templates embed.FS
	//go:embed messages/*.yaml
	messages embed.FS
)

// Messages are the pages' en.yaml and de.yaml.
var Messages = i18n.Source{Name: "console/deadletterspage", FS: i18n.Sub(messages, "messages")}

const (
	// pageSize is how many dead letters a list page shows.
	pageSize = 50
	// errorShown bounds the error a list row shows, in characters; the dead letter's page
	// shows all of it.
	errorShown = 120
	// The audit events of the actions.
	auditReplay  = "console-dead-letter-replay"
	auditDiscard = "console-dead-letter-discard"
)

// Replayer hands a dead letter's event to its subscription again; *deadletter.API
// implements it.
type Replayer interface {
	Replay(ctx context.Context, id string) (deadletter.Record, error)
}

// Auditor records what an admin did; *auth.Service implements it.
type Auditor interface {
	Audit(ctx context.Context, r *http.Request, rec auth.AuditRecord)
}

var (
	_ Replayer = (*deadletter.API)(nil)
	_ Auditor  = (*auth.Service)(nil)
)

// page serves the Dead letters pages.
type page struct {
	store    *deadletter.Store
	replayer Replayer
	audit    Auditor
}

// listData is the list's data.
type listData struct {
	Subscription string
	Topic        string
	Filtered     bool
	Rows         []row
	Total        int
	Older        string // link to the next page, "" at the end
	Paged        bool   // not the first page: link to the newest
	Newest       string
}

// row is one dead letter in the list.
type row struct {
	deadletter.Record
	ShortError string
}

func (p *page) list(w http.ResponseWriter, r *http.Request, v *console.View) error {
	q := r.URL.Query()
	d := listData{Subscription: strings.TrimSpace(q.Get("subscription")), Topic: strings.TrimSpace(q.Get("topic"))}
	d.Filtered = d.Subscription != "" || d.Topic != ""
	f := deadletter.Filter{Subscription: d.Subscription, Topic: d.Topic, Limit: pageSize, Cursor: q.Get("cursor")}
	pg, err := p.store.List(r.Context(), f)
	if errors.Is(err, deadletter.ErrBadCursor) {
		return httpserver.Errorf(http.StatusBadRequest, "cursor: this is not a page of the list; follow the list's links")
	}
	if err != nil {
		return err
	}
	d.Total = pg.TotalItems
	for _, rec := range pg.Items {
		d.Rows = append(d.Rows, row{Record: rec, ShortError: shorten(rec.Error, errorShown)})
	}
	d.Newest = listURL(d.Subscription, d.Topic, "")
	d.Paged = f.Cursor != ""
	if pg.NextCursor != "" {
		d.Older = listURL(d.Subscription, d.Topic, pg.NextCursor)
	}
	return v.Render(w, http.StatusOK, "deadletters/list", d)
}

// listURL is the list with the filters, at the cursor ("" for the newest).
func listURL(subscription, topic, cursor string) string {
	q := url.Values{}
	if subscription != "" {
		q.Set("subscription", subscription)
	}
	if topic != "" {
		q.Set("topic", topic)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return "/dead-letters"
	}
	return "/dead-letters?" + q.Encode()
}

// shorten returns the first line of s, cut to at most n characters with an ellipsis.
func shorten(s string, n int) string {
	line, _, more := strings.Cut(strings.TrimSpace(s), "\n")
	line = strings.TrimSpace(line)
	if utf8.RuneCountInString(line) > n {
		r := []rune(line)
		return strings.TrimSpace(string(r[:n-1])) + "…"
	}
	if more {
		return line + " …"
	}
	return line
}

// detailData is a dead letter's page.
type detailData struct {
	deadletter.Record
	Back      string // the list of its subscription
	Metadata  []console.Pair
	Payload   string
	Size      int
	JSON      bool
	Binary    bool
	Truncated bool
}

// record returns the dead letter of the request's path, or a 404.
func (p *page) record(r *http.Request) (deadletter.Record, error) {
	rec, err := p.store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, deadletter.ErrNotFound) {
		return rec, notFound(r)
	}
	return rec, err
}

func notFound(r *http.Request) error {
	return httpserver.Errorf(http.StatusNotFound, "no dead letter %q: it was replayed, discarded or purged after events.deadLetters.retention", r.PathValue("id"))
}

func (p *page) detail(w http.ResponseWriter, r *http.Request, v *console.View) error {
	rec, err := p.record(r)
	if err != nil {
		return err
	}
	d := detailData{Record: rec, Back: listURL(rec.Subscription, "", ""), Size: len(rec.Event.Payload), Metadata: console.SortedPairs(rec.Event.Metadata)}
	d.Payload, d.JSON, d.Binary, d.Truncated = console.ShowPayload(rec.Event.Payload)
	return v.Render(w, http.StatusOK, "deadletters/detail", d)
}

// auditRecord is the audit event of an action on rec by the view's person.
func auditRecord(event string, v *console.View, rec deadletter.Record) auth.AuditRecord {
	return auth.AuditRecord{EventID: event, SeverityLevel: auth.SeverityMedium, Status: auth.StatusSucceeded,
		Actor: auth.AuditActor{ActorID: v.Principal.Subject},
		Meta:  map[string]any{"id": rec.ID, "subscription": rec.Subscription, "topic": rec.Topic, "eventId": rec.Event.ID}}
}

// replay hands the event to its subscription again, as the admin API's replay does; the
// record disappears once the event was handled (or was dead-lettered anew). Audited.
func (p *page) replay(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ctx := r.Context()
	rec, err := p.replayer.Replay(ctx, r.PathValue("id"))
	if errors.Is(err, deadletter.ErrNotFound) {
		return notFound(r)
	}
	a := auditRecord(auditReplay, v, rec)
	if rec.ID == "" { // the store failed before the record was read
		a.Meta["id"] = r.PathValue("id")
	}
	if err != nil {
		a.Status, a.Error = auth.StatusFailed, err.Error()
	}
	p.audit.Audit(ctx, r, a)
	switch {
	case err == nil:
		v.Redirect(w, "/dead-letters", "notice.deadletters.replaying")
		return nil
	case errors.Is(err, deadletter.ErrReplaying):
		v.Redirect(w, "/dead-letters/"+url.PathEscape(rec.ID), "notice.deadletters.busy")
		return nil
	case errors.Is(err, eventsvc.ErrNotRunning):
		return httpserver.Errorf(http.StatusConflict, "subscription %s does not run in this instance; replay the dead letter where it runs", rec.Subscription)
	}
	return err
}

// discard deletes the dead letter. Audited.
func (p *page) discard(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ctx := r.Context()
	rec, err := p.record(r)
	if err != nil {
		return err
	}
	a := auditRecord(auditDiscard, v, rec)
	err = p.store.Delete(ctx, rec.ID)
	if errors.Is(err, deadletter.ErrNotFound) { // replayed or discarded meanwhile
		return notFound(r)
	}
	if err != nil {
		a.Status, a.Error = auth.StatusFailed, err.Error()
	}
	p.audit.Audit(ctx, r, a)
	if err != nil {
		return err
	}
	v.Redirect(w, "/dead-letters", "notice.deadletters.discarded")
	return nil
}
