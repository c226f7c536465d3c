package eventspage

import (
	"context"
	"embed"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
)

var (
	//go:embed templates/*.html
	templates embed.FS
	//go:embed messages/*.yaml
	messages embed.FS
)

// Messages are the page's en.yaml and de.yaml.
var Messages = i18n.Source{Name: "console/eventspage", FS: i18n.Sub(messages, "messages")}

const (
	// pageSize is how many events a list shows.
	pageSize = 50
	// findLimit bounds the events a search by id shows (an id is on a topic and its
	// sub-topic, and again for each redelivery the sender was not told about).
	findLimit = 20
	// MetaReplayedFrom and MetaReplayedBy mark a replayed event: the id it copies and who
	// replayed it.
	MetaReplayedFrom = "replayed_from"
	MetaReplayedBy   = "replayed_by"
)

// Publisher publishes a replay; *eventsvc.Service implements it.
type Publisher interface {
	Publish(ctx context.Context, e eventsvc.Event) error
	Subscribers(topic string) []string
}

// page serves the Events pages.
type page struct {
	history     *sqlbus.History
	deadLetters *deadletter.Store
	bus         Publisher
	auth        *auth.Service
	// historyKept says whether webhooks reach the history: the SQL bus, or Kafka with its
	// outbox. Otherwise only events published in a transaction (the catalog's) do.
	historyKept bool
}

// listData is the list's data.
type listData struct {
	Topics   []string
	Topic    string
	ID       string
	Entries  []sqlbus.Entry
	Older    string // link to the next page, "" at the end
	Searched bool
	Bounded  bool
	Live     string // the live channel
	Partial  bool   // the history keeps only events published in a transaction
}

func (p *page) list(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := listData{Topic: q.Get("topic"), ID: q.Get("id"), Partial: !p.historyKept}
	var err error
	if d.Topics, err = p.history.Topics(ctx); err != nil {
		return err
	}
	if d.ID != "" {
		d.Searched = true
		if d.Entries, d.Bounded, err = p.history.FindID(ctx, d.ID, findLimit); err != nil {
			return err
		}
		return v.Render(w, http.StatusOK, "events/list", d)
	}
	before, err := httpserver.QueryInt(r, "before", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	if d.Entries, err = p.history.Recent(ctx, d.Topic, int64(before), pageSize); err != nil {
		return err
	}
	if len(d.Entries) == pageSize {
		o := url.Values{"before": {strconv.FormatInt(d.Entries[len(d.Entries)-1].Seq, 10)}}
		if d.Topic != "" {
			o.Set("topic", d.Topic)
		}
		d.Older = "/events?" + o.Encode()
	}
	if before == 0 && !strings.Contains(d.Topic, ",") { // a comma would separate channels
		d.Live = "events:" + d.Topic
	}
	return v.Render(w, http.StatusOK, "events/list", d)
}

// live turns new events into rows at the top of the list (of one topic, or all for "").
func (p *page) live(_ context.Context, v *console.View, topic string, entries []sqlbus.Entry, skipped int64) ([]console.Update, error) {
	var rows []sqlbus.Entry
	for i := len(entries) - 1; i >= 0; i-- { // newest first, as the list
		if topic == "" || entries[i].Topic == topic {
			rows = append(rows, entries[i])
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	html, err := v.Fragment("events/list", "rows", rows)
	if err != nil {
		return nil, err
	}
	announce, err := v.T("events.arrived", "Count", len(rows))
	if err != nil {
		return nil, err
	}
	if skipped > 0 {
		more, err := v.T("events.skipped", "Count", skipped)
		if err != nil {
			return nil, err
		}
		announce += " " + more
	}
	return []console.Update{{Target: "#events-body", HTML: html, Announce: announce, Show: "#events-table"}}, nil
}

// detailData is an event's page.
type detailData struct {
	Message   sqlbus.Message
	Metadata  []console.Pair
	Payload   string
	JSON      bool
	Truncated bool
	Binary    bool
	Handling  []sqlbus.Handling
	From      string // the replayed event's id
}

// message reads the event of the request's path ({seq}); an unknown one is a 404.
func (p *page) message(r *http.Request) (sqlbus.Message, error) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq <= 0 {
		return sqlbus.Message{}, httpserver.Errorf(http.StatusNotFound, "no event %q in the history: use the number the list links to", r.PathValue("seq"))
	}
	m, err := p.history.Get(r.Context(), seq)
	if errors.Is(err, sqlbus.ErrNotFound) {
		return m, httpserver.Errorf(http.StatusNotFound, "no event %d in the history: it may have passed events.sql.retention", seq)
	}
	return m, err
}

func (p *page) detail(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ctx := r.Context()
	m, err := p.message(r)
	if err != nil {
		return err
	}
	d := detailData{Message: m, From: m.Metadata[MetaReplayedFrom], Metadata: console.SortedPairs(m.Metadata)}
	d.Payload, d.JSON, d.Binary, d.Truncated = console.ShowPayload(m.Payload)
	if d.Handling, err = p.handling(ctx, m); err != nil {
		return err
	}
	return v.Render(w, http.StatusOK, "events/detail", d)
}

// handling is where each subscription stands with m, dead letters included.
func (p *page) handling(ctx context.Context, m sqlbus.Message) ([]sqlbus.Handling, error) {
	hs, err := p.history.Handling(ctx, m.Seq, p.bus.Subscribers(m.Topic)...)
	if err != nil {
		return nil, err
	}
	if p.deadLetters == nil {
		return hs, nil
	}
	dls, err := p.deadLetters.ByEvent(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	for _, dl := range dls {
		if dl.Topic == m.Topic {
			hs = sqlbus.MarkDeadLettered(hs, dl.Subscription, sqlbus.DeadLettered{ID: dl.ID, Error: dl.Error, Attempts: dl.Attempts, FailedAt: dl.FailedAt})
		}
	}
	return hs, nil
}

// replay publishes a copy of the event with a new id, linked to the original: every
// subscription of its topic receives it. The replay is audited.
func (p *page) replay(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ctx := r.Context()
	m, err := p.message(r)
	if err != nil {
		return err
	}
	md := map[string]string{}
	for k, val := range m.Metadata {
		md[k] = val
	}
	md[MetaReplayedFrom], md[MetaReplayedBy] = m.ID, v.Principal.Subject
	e := eventsvc.Event{ID: uuid.NewString(), Topic: m.Topic, Key: m.Key, Payload: m.Payload, Metadata: md, Time: m.Time}
	rec := auth.AuditRecord{EventID: "console-replay", SeverityLevel: auth.SeverityMedium, Status: auth.StatusSucceeded,
		Actor: auth.AuditActor{ActorID: v.Principal.Subject}, Meta: map[string]any{"topic": m.Topic, "from": m.ID, "seq": m.Seq, "to": e.ID}}
	if err := p.bus.Publish(ctx, e); err != nil {
		rec.Status, rec.Error = auth.StatusFailed, err.Error()
		p.auth.Audit(ctx, r, rec)
		return httpserver.Errorf(http.StatusServiceUnavailable, "the replay could not be published: %v", err)
	}
	p.auth.Audit(ctx, r, rec)
	v.Redirect(w, "/events?id="+url.QueryEscape(e.ID), "notice.events.replayed")
	return nil
}
