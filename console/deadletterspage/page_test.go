package deadletterspage

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/console/pagetest"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
)

const (
	alice = pagetest.Admin
	bob   = pagetest.User
)

// bus is the subscriptions that run in this process: running ones handle a redelivered
// event at once, unless hold is set, when the replay waits in held.
type bus struct {
	running map[string]bool
	hold    bool
	mu      sync.Mutex
	got     []string // the redelivered events' ids
	held    []func(error)
}

func (b *bus) Redeliver(subscription string, e eventsvc.Event, done func(error)) error {
	if !b.running[subscription] {
		return fmt.Errorf("%w: %s", eventsvc.ErrNotRunning, subscription)
	}
	b.mu.Lock()
	b.got = append(b.got, e.ID)
	hold := b.hold
	if hold {
		b.held = append(b.held, done)
	}
	b.mu.Unlock()
	if !hold {
		done(nil)
	}
	return nil
}

// fixture is the section on a SQLite store with dead letters, served as alice and as bob.
type fixture struct {
	store  *deadletter.Store
	bus    *bus
	audits *pagetest.Auditor
	alice  http.Handler
	bob    http.Handler
}

var failedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{
		store:  deadletter.NewStore(databasetest.SQLite(t, deadletter.Migrations), deadletter.Config{Retention: time.Hour}, zerolog.Nop(), nil),
		bus:    &bus{running: map[string]bool{"sub-a": true, "bulk": true}},
		audits: &pagetest.Auditor{},
	}
	add := func(sub, topic, id, errText string, payload []byte, at time.Time) {
		t.Helper()
		require.NoError(t, f.store.Add(ctx, eventsvc.DeadLetter{Subscription: sub, Topic: topic, Error: errText, Attempts: 3, FailedAt: at,
			Event: eventsvc.Event{ID: id, Topic: topic, Key: "acme/app", Payload: payload, Time: at.Add(-time.Minute),
				Metadata: map[string]string{"x-github-event": "push", "correlation_id": id}}}))
	}
	for i := range 51 {
		add("bulk", "gitlab", fmt.Sprintf("bulk-%02d", i), "boom", []byte("plain text"), failedAt.Add(-time.Duration(i+1)*time.Hour))
	}
	add("sub-b", "github.pull_request", "ev-binary", "short", []byte{0xff, 0x00, 0x01}, failedAt.Add(time.Second))
	add("sub-a", "github.push", "ev-json", "catalog unreachable: "+strings.Repeat("x", 200)+"\nsecond line <b>", []byte(`{"ref":"refs/heads/main","n":1}`), failedAt.Add(2*time.Second))
	s := section(f.store, deadletter.NewAPI(f.store, f.bus), f.audits)
	o := console.Options{Sections: []console.Section{s}}
	f.alice, f.bob = pagetest.Serve(t, alice, o), pagetest.Serve(t, bob, o)
	return f
}

// id returns the id of the dead letter of the event.
func (f *fixture) id(t *testing.T, eventID string) string {
	t.Helper()
	recs, err := f.store.ByEvent(context.Background(), eventID)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	return recs[0].ID
}

func do(h http.Handler, method, target, lang string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.Header.Set("Accept-Language", lang)
	httpservertest.Authorize(r)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestMessages(t *testing.T) {
	t.Parallel()
	require.NoError(t, i18n.CheckSource(Messages))
}

// TestPages renders every page in English and German, as an admin and not: admins see the
// list with filters and paging and a dead letter with its actions; others get an HTML 403.
func TestPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	jsonID, binaryID := f.id(t, "ev-json"), f.id(t, "ev-binary")
	first := do(f.alice, http.MethodGet, "/dead-letters?subscription=bulk", "en").Body.String()
	i := strings.Index(first, `href="/dead-letters?cursor=`)
	require.Positive(t, i, "the first page of 51 links to the next")
	older := strings.ReplaceAll(first[i+len(`href="`):i+strings.Index(first[i:], `" rel="next"`)], "&amp;", "&")
	for _, tc := range []struct {
		name, target string
		lang         string
		status       int
		contains     []string
		absent       []string
	}{
		{"list", "/dead-letters", "en", 200, []string{
			"<h1>Dead letters</h1>", "53 dead letters.", `aria-current="page">Dead letters</a>`,
			`<a href="/dead-letters?subscription=sub-a" class="subscription">sub-a</a>`, `<code class="event-id">ev-json</code>`,
			`<code class="error">catalog unreachable: ` + strings.Repeat("x", 98) + `…</code>`,
			`href="/dead-letters/` + jsonID + `" class="inspect" aria-label="Open the dead letter of event ev-json">Open</a>`,
			`<time datetime="2026-03-04T05:06:09Z">4 Mar 2026, 05:06:09 UTC</time>`, `rel="next"`,
		}, []string{"second line", `id="newest"`}},
		{"list in German", "/dead-letters", "de", 200, []string{
			"<h1>Unzustellbare Events</h1>", "53 unzustellbare Events.", "Gescheitert am", "04.03.2026, 05:06:09 UTC", ">Öffnen</a>",
		}, nil},
		{"filtered", "/dead-letters?subscription=sub-a&topic=github.push", "en", 200, []string{
			"1 dead letter matches the filter.", `value="sub-a"`, `value="github.push"`, `id="filter-clear"`, "ev-json",
		}, []string{"ev-binary", "bulk-", `rel="next"`}},
		{"filtered in German", "/dead-letters?topic=nope", "de", 200, []string{
			"0 unzustellbare Events passen zum Filter.", "Keine unzustellbaren Events passen zum Filter.",
		}, []string{"<table"}},
		{"older", older, "en", 200, []string{"51 dead letters match the filter.", "bulk-50", `<a href="/dead-letters?subscription=bulk" id="newest">Newest</a>`}, []string{"bulk-49", `rel="next"`}},
		{"bad cursor", "/dead-letters?cursor=nope", "en", 400, []string{"<h1>Error 400</h1>", "follow the list"}, nil},
		{"JSON dead letter", "/dead-letters/" + jsonID, "en", 200, []string{
			"<h1>Dead letter of ev-json</h1>", `<code id="dead-letter-id">` + jsonID + `</code>`,
			`<a href="/events?id=ev-json" id="event-link">`, `<a href="/dead-letters?subscription=sub-a" id="back">Back to the dead letters of sub-a</a>`,
			"second line &lt;b&gt;</pre>", `<code>x-github-event</code></th><td><code>push</code>`,
			"JSON, 31 bytes", "  &#34;ref&#34;: &#34;refs/heads/main&#34;,", `<code>acme/app</code>`,
			`action="/dead-letters/` + jsonID + `/replay" data-confirm="replay-dialog"`, `action="/dead-letters/` + jsonID + `/discard" data-confirm="discard-dialog"`,
			`<dialog id="replay-dialog"`, `<button value="ok" class="primary" id="replay-ok">Replay</button>`, `<button value="ok" class="danger" id="discard-ok">Discard</button>`,
			"is handed to sub-a again",
		}, nil},
		{"binary dead letter in German", "/dead-letters/" + binaryID, "de", 200, []string{
			"<h1>Unzustellbares Event ev-binary</h1>", "Binär, 3 Bytes, hexadezimal dargestellt", ">ff 00 01</pre>", "Erneut zustellen", "Verwerfen",
			"Dieses Event verwerfen?",
		}, nil},
		{"text dead letter", "/dead-letters/" + f.id(t, "bulk-00"), "en", 200, []string{"Text, 10 bytes", ">plain text</pre>"}, nil},
		{"no such dead letter", "/dead-letters/nope", "de", 404, []string{"<h1>Fehler 404</h1>", "no dead letter &#34;nope&#34;"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := do(f.alice, http.MethodGet, tc.target, tc.lang)
			body := w.Body.String()
			require.Equal(t, tc.status, w.Code, body)
			for _, s := range tc.contains {
				require.Contains(t, body, s)
			}
			for _, s := range tc.absent {
				require.NotContains(t, body, s)
			}
			// Others may not see it, in either language; admins' navigation has the entry.
			w = do(f.bob, http.MethodGet, tc.target, tc.lang)
			require.Equal(t, http.StatusForbidden, w.Code)
			require.NotContains(t, w.Body.String(), `href="/dead-letters"`)
			require.NotContains(t, w.Body.String(), "ev-json")
		})
	}
}

// TestActions: replay hands the event to its subscription (the record goes once handled),
// discard deletes it; both are audited, refused for non-admins, and say what went wrong.
func TestActions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	exists := func(id string) bool {
		_, err := f.store.Get(ctx, id)
		return err == nil
	}
	lastAudit := func() auth.AuditRecord {
		recs := f.audits.Records()
		require.NotEmpty(t, recs)
		return recs[len(recs)-1]
	}
	notice := func(path, id string) string { return path + "?notice=" + url.QueryEscape(id) }

	t.Run("non-admins may not", func(t *testing.T) {
		id := f.id(t, "ev-json")
		for _, action := range []string{"replay", "discard"} {
			w := do(f.bob, http.MethodPost, "/dead-letters/"+id+"/"+action, "en")
			require.Equal(t, http.StatusForbidden, w.Code)
		}
		require.True(t, exists(id))
		require.Empty(t, f.audits.Records())
		f.bus.mu.Lock()
		defer f.bus.mu.Unlock()
		require.Empty(t, f.bus.got)
	})

	t.Run("replay", func(t *testing.T) {
		id := f.id(t, "ev-json")
		w := do(f.alice, http.MethodPost, "/dead-letters/"+id+"/replay", "en")
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		require.Equal(t, notice("/dead-letters", "notice.deadletters.replaying"), w.Header().Get("Location"))
		require.False(t, exists(id), "handled: the record is gone")
		require.Equal(t, []string{"ev-json"}, f.bus.got)
		a := lastAudit()
		require.Equal(t, "console-dead-letter-replay", a.EventID)
		require.Equal(t, auth.StatusSucceeded, a.Status)
		require.Equal(t, alice, a.Actor.ActorID)
		require.Equal(t, map[string]any{"id": id, "subscription": "sub-a", "topic": "github.push", "eventId": "ev-json"}, a.Meta)
		require.Contains(t, do(f.alice, http.MethodGet, w.Header().Get("Location"), "en").Body.String(), "The event is being replayed")
	})

	t.Run("replay where the subscription does not run", func(t *testing.T) {
		id := f.id(t, "ev-binary")
		w := do(f.alice, http.MethodPost, "/dead-letters/"+id+"/replay", "en")
		require.Equal(t, http.StatusConflict, w.Code)
		require.Contains(t, w.Body.String(), "subscription sub-b does not run in this instance")
		require.True(t, exists(id))
		a := lastAudit()
		require.Equal(t, auth.StatusFailed, a.Status)
		require.Contains(t, a.Error, "not running")
		require.Equal(t, "ev-binary", a.Meta["eventId"])
	})

	t.Run("replay twice at once", func(t *testing.T) {
		f.bus.mu.Lock()
		f.bus.hold = true
		f.bus.mu.Unlock()
		id := f.id(t, "bulk-00")
		require.Equal(t, http.StatusSeeOther, do(f.alice, http.MethodPost, "/dead-letters/"+id+"/replay", "en").Code)
		w := do(f.alice, http.MethodPost, "/dead-letters/"+id+"/replay", "de")
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, notice("/dead-letters/"+id, "notice.deadletters.busy"), w.Header().Get("Location"))
		require.Contains(t, do(f.alice, http.MethodGet, w.Header().Get("Location"), "de").Body.String(), "bereits erneut zugestellt")
		require.Equal(t, auth.StatusFailed, lastAudit().Status)
		f.bus.mu.Lock()
		held := f.bus.held
		f.bus.mu.Unlock()
		require.Len(t, held, 1)
		held[0](nil)
		require.False(t, exists(id))
	})

	t.Run("discard", func(t *testing.T) {
		id := f.id(t, "ev-binary")
		w := do(f.alice, http.MethodPost, "/dead-letters/"+id+"/discard", "en")
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		require.Equal(t, notice("/dead-letters", "notice.deadletters.discarded"), w.Header().Get("Location"))
		require.False(t, exists(id))
		a := lastAudit()
		require.Equal(t, "console-dead-letter-discard", a.EventID)
		require.Equal(t, auth.StatusSucceeded, a.Status)
		require.Equal(t, map[string]any{"id": id, "subscription": "sub-b", "topic": "github.pull_request", "eventId": "ev-binary"}, a.Meta)

		n := len(f.audits.Records())
		for _, action := range []string{"discard", "replay"} {
			w = do(f.alice, http.MethodPost, "/dead-letters/"+id+"/"+action, "en")
			require.Equal(t, http.StatusNotFound, w.Code, "gone")
		}
		require.Len(t, f.audits.Records(), n, "nothing happened, nothing audited")
	})
}

func TestShorten(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"boom", "boom"},
		{"  boom\n", "boom"},
		{"first\nsecond", "first …"},
		{"äöüäöü", "äöüä…"},
		{"äöüäö", "äöüäö"},
	} {
		require.Equal(t, tc.want, shorten(tc.in, 5), tc.in)
	}
}
