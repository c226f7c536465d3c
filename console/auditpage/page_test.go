package auditpage

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/console/pagetest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
	"github.com/stagebus/stagebus/subscribers/audit"
)

const (
	alice = pagetest.Admin
	bob   = pagetest.User
	guest = "user:development/guest"
)

// busPublisher publishes events on the SQL bus, as eventsvc.Service does with it: the
// checkpoints reach the history.
type busPublisher struct{ b *sqlbus.Bus }

func (p busPublisher) Publish(ctx context.Context, e eventsvc.Event) error {
	m := message.NewMessage(e.ID, e.Payload)
	m.SetContext(ctx)
	return p.b.Publish(e.Topic, m)
}

// fixture is the page on a fresh SQLite database with the audit log and the bus tables.
type fixture struct {
	db      *database.DB
	store   *audit.Store
	cp      *audit.Checkpointer
	history *sqlbus.History
	auditor *pagetest.Auditor
	admin   http.Handler // alice's requests
	other   http.Handler // bob's
}

// newFixture serves the page; with bus, checkpoints are published on the SQL bus (and so are
// in the history), without it they are this process's only.
func newFixture(t *testing.T, bus bool) *fixture {
	t.Helper()
	db := databasetest.SQLite(t, append(append([]database.Migration{}, audit.Migrations...), sqlbus.Migrations...))
	f := &fixture{db: db, store: audit.NewStore(db, zerolog.Nop()), history: sqlbus.NewHistory(db), auditor: &pagetest.Auditor{}}
	var pub eventsvc.Publisher
	if bus {
		var cfg sqlbus.Config
		cfg.SetDefaults()
		b, err := sqlbus.New(db, cfg, zerolog.Nop(), nil)
		require.NoError(t, err)
		require.NoError(t, b.Start(t.Context()))
		t.Cleanup(func() { _ = b.Close() })
		pub = busPublisher{b}
	}
	var err error
	f.cp, err = audit.NewCheckpointer(db, pub, zerolog.Nop(), time.Hour, nil)
	require.NoError(t, err)
	sec := section(&page{store: f.store, checkpointer: f.cp, db: db, history: f.history, auditor: f.auditor})
	o := console.Options{Sections: []console.Section{sec}}
	f.admin, f.other = pagetest.Serve(t, alice, o), pagetest.Serve(t, bob, o)
	return f
}

// recordTime is the time of the first record; each next one is a minute later.
var recordTime = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// add appends n records: sign-ins of the guest, then failed authentications of bob.
func (f *fixture) add(t *testing.T, n int) {
	t.Helper()
	var last audit.Entry
	require.NoError(t, f.db.QueryRowContext(t.Context(), `SELECT count(*) FROM audit_log`).Scan(&last.ID))
	for i := range n {
		id := int(last.ID) + i + 1
		rec := audit.Record{Plugin: "auth", EventID: auth.EventSignIn, SeverityLevel: auth.SeverityMedium, Status: auth.StatusSucceeded,
			Actor:     audit.Actor{ActorID: guest, IP: "127.0.0.1", UserAgent: "Chromium"},
			Request:   &audit.Request{Method: http.MethodPost, URL: "/signin/guest"},
			Meta:      map[string]any{"provider": "guest", "ownershipEntityRefs": []any{guest}, "n": id},
			Timestamp: recordTime.Add(time.Duration(id-1) * time.Minute)}
		if id%2 == 0 {
			rec.EventID, rec.SeverityLevel, rec.Status, rec.Error, rec.Meta = auth.EventAuthenticate, auth.SeverityLow, auth.StatusFailed, "token expired", nil
			rec.Actor, rec.Request = audit.Actor{ActorID: bob}, nil
		}
		_, _, err := f.store.Append(t.Context(), fmt.Sprintf("msg-%d", id), rec)
		require.NoError(t, err)
	}
}

func (f *fixture) do(h http.Handler, method, target, lang string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if lang != "" {
		r.Header.Set("Accept-Language", lang)
	}
	httpservertest.Authorize(r)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// rows returns the data-id of each row of the list, in order.
func rows(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr data-id="(\d+)">`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestMessages(t *testing.T) {
	t.Parallel()
	require.NoError(t, i18n.CheckSource(Messages))
}

// TestList: the list in both languages with each filter; bad filters are a 400 page;
// non-admins are refused.
func TestList(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	f.add(t, 4)
	_, err := f.cp.Take(t.Context())
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		target   string
		lang     string
		status   int
		rows     []string
		contains []string
	}{
		{"everything", "/audit", "en", 200, []string{"4", "3", "2", "1"}, []string{
			`<title>Audit log · Stagebus</title>`, `aria-current="page">Audit</a>`, "4 records in the log.",
			`<time datetime="2026-05-06T07:08:09Z">6 May 2026, 07:08:09 UTC</time>`,
			`<a href="/audit?eventId=sign-in">sign-in</a>`, `<a href="/audit?actor=user%3adevelopment%2fguest">user:development/guest</a>`,
			`<td class="state-ok">succeeded</td>`, `<td class="state-bad">failed</td>`, "<td>medium</td>", "<td>low</td>",
			"<code>POST /signin/guest</code>", `<caption>Meta</caption>`, `<code>ownershipEntityRefs</code></th><td><code>[&#34;user:development/guest&#34;]</code>`,
			`<code>n</code></th><td><code>3</code>`, "<dt>Error</dt><dd><code>token expired</code>", "Chromium",
			`id="verify"`, `id="take-checkpoint"`, "Not verified yet.", `<dd id="chain-rows">4</dd>`, `<dd id="checkpoint-rows">4</dd>`,
			`<a href="/events/1">event 1 in the history</a>`, `<form method="post" action="/audit/verify" class="actions">`,
		}},
		{"German", "/audit", "de", 200, []string{"4", "3", "2", "1"}, []string{
			`<html lang="de">`, `<title>Audit-Protokoll · Stagebus</title>`, "4 Einträge im Protokoll.",
			`<time datetime="2026-05-06T07:08:09Z">06.05.2026, 07:08:09 UTC</time>`, `<td class="state-ok">erfolgreich</td>`,
			`<td class="state-bad">fehlgeschlagen</td>`, "<td>mittel</td>", `<th scope="col">Schweregrad</th>`, "Noch nicht geprüft.",
			">Prüfen</button>", ">Prüfpunkt setzen</button>", "Event 1 in der Historie", "<caption>Metadaten</caption>",
		}},
		{"by event", "/audit?eventId=sign-in", "en", 200, []string{"3", "1"}, []string{
			"2 records match.", `value="sign-in"`, `action="/audit/verify?eventId=sign-in"`, `action="/audit/checkpoint?eventId=sign-in"`, `id="clear"`,
		}},
		{"by actor", "/audit?actor=" + url.QueryEscape(bob), "de", 200, []string{"4", "2"}, []string{"2 Einträge passen."}},
		{"by status", "/audit?status=failed", "en", 200, []string{"4", "2"}, []string{`<option value="failed" selected>failed</option>`}},
		{"from, form time", "/audit?from=2026-05-06T07:09", "en", 200, []string{"4", "3", "2"}, []string{`value="2026-05-06T07:09"`}},
		{"range, RFC 3339", "/audit?from=2026-05-06T09:09:09%2B02:00&to=2026-05-06T07:11:09Z", "en", 200, []string{"3", "2"}, []string{
			`value="2026-05-06T07:09:09"`, `value="2026-05-06T07:11:09"`, "2 records match.",
		}},
		{"nothing", "/audit?eventId=logout", "de", 200, nil, []string{"0 Einträge passen.", `id="audit-empty">Keine Einträge.`}},
		{"bad status", "/audit?status=ok", "en", 400, nil, []string{"<h1>Error 400</h1>", "status must be initiated, succeeded or failed"}},
		{"bad time", "/audit?from=yesterday", "de", 400, nil, []string{"<h1>Fehler 400</h1>", "from must be a time"}},
		{"empty range", "/audit?from=2026-05-06T08:00&to=2026-05-06T07:00", "en", 400, nil, []string{"from must be before to"}},
		{"bad cursor", "/audit?cursor=nope", "en", 400, nil, []string{"invalid cursor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := f.do(f.admin, http.MethodGet, tc.target, tc.lang)
			body := w.Body.String()
			require.Equal(t, tc.status, w.Code, body)
			if tc.status == 200 {
				require.Equal(t, tc.rows, rows(body))
			}
			for _, s := range tc.contains {
				require.Contains(t, body, s)
			}
			// Non-admins are refused, in their language.
			w = f.do(f.other, http.MethodGet, tc.target, tc.lang)
			require.Equal(t, http.StatusForbidden, w.Code)
			require.NotContains(t, w.Body.String(), `href="/audit"`, "the navigation shows no admin entry")
		})
	}
}

// TestPaging: 50 records a page, newest first; the link to older ones keeps the filter.
func TestPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.add(t, 120)
	body := f.do(f.admin, http.MethodGet, "/audit?eventId=sign-in", "en").Body.String()
	ids := rows(body)
	require.Len(t, ids, 50)
	require.Equal(t, []string{"119", "117"}, ids[:2])
	require.Contains(t, body, "60 records match.")
	older := regexp.MustCompile(`<a href="([^"]+)" rel="next"`).FindStringSubmatch(body)
	require.NotNil(t, older)
	target := strings.ReplaceAll(older[1], "&amp;", "&")
	require.Contains(t, target, "eventId=sign-in")
	body = f.do(f.admin, http.MethodGet, target, "en").Body.String()
	ids = rows(body)
	require.Len(t, ids, 10)
	require.Equal(t, "19", ids[0])
	require.Equal(t, "1", ids[9])
	require.NotContains(t, body, `rel="next"`)
}

// TestVerify: Verify shows the chain intact against the newest checkpoint of the history, or
// the first broken row; the page stays the list's (filters, navigation, language switch).
func TestVerify(t *testing.T) {
	t.Parallel()
	t.Run("intact", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, true)
		w := f.do(f.admin, http.MethodPost, "/audit/verify", "en")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Contains(t, w.Body.String(), "✔ Intact: 0 rows checked")
		require.Contains(t, w.Body.String(), "(no checkpoint to compare with).")
		f.add(t, 3)
		_, err := f.cp.Take(t.Context())
		require.NoError(t, err)
		f.add(t, 1)
		for lang, want := range map[string]string{
			"en": "✔ Intact: 4 rows checked\n      and the chain extends the last checkpoint (3 rows).",
			"de": "✔ Unversehrt: 4 Zeilen geprüft\n      und die Kette setzt den letzten Prüfpunkt fort (3 Zeilen).",
		} {
			w := f.do(f.admin, http.MethodPost, "/audit/verify?eventId=sign-in", lang)
			body := w.Body.String()
			require.Equal(t, http.StatusOK, w.Code, body)
			require.Contains(t, body, want)
			require.Equal(t, []string{"3", "1"}, rows(body), "the filtered list")
			require.Contains(t, body, `<input type="hidden" name="next" value="/audit?eventId=sign-in">`)
			require.Contains(t, body, `<a href="/audit" aria-current="page">`)
		}
		require.Equal(t, http.StatusForbidden, f.do(f.other, http.MethodPost, "/audit/verify", "en").Code)
	})
	t.Run("broken", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, true)
		f.add(t, 5)
		_, err := f.db.ExecContext(t.Context(), `DROP TRIGGER audit_log_no_update`)
		require.NoError(t, err)
		_, err = f.db.ExecContext(t.Context(), `UPDATE audit_log SET actor_id = 'user:default/mallory' WHERE id = 3`)
		require.NoError(t, err)
		for lang, want := range map[string]string{"en": "✘ Broken at row 3. 3 rows checked.", "de": "✘ Gebrochen in Zeile 3. 3 Zeilen geprüft."} {
			body := f.do(f.admin, http.MethodPost, "/audit/verify", lang).Body.String()
			require.Contains(t, body, want)
			require.Contains(t, body, `<code lang="en">the row&#39;s content does not match its hash (edited)</code>`)
		}
	})
	t.Run("truncated below the checkpoint", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, true)
		f.add(t, 4)
		_, err := f.cp.Take(t.Context())
		require.NoError(t, err)
		_, err = f.db.ExecContext(t.Context(), `DROP TRIGGER audit_log_no_delete`)
		require.NoError(t, err)
		_, err = f.db.ExecContext(t.Context(), `DELETE FROM audit_log WHERE id = 4`)
		require.NoError(t, err)
		body := f.do(f.admin, http.MethodPost, "/audit/verify", "en").Body.String()
		require.Contains(t, body, "✘ Broken at row 4.")
		require.Contains(t, body, "(truncated)")
	})
}

// TestCheckpoint: taking a checkpoint publishes it (the history has it, the page shows it),
// audits it and returns to the list with a notice; without a bus the page shows this
// process's checkpoint. Non-admins are refused and take none.
func TestCheckpoint(t *testing.T) {
	t.Parallel()
	t.Run("published", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, true)
		f.add(t, 2)
		require.Contains(t, f.do(f.admin, http.MethodGet, "/audit", "en").Body.String(), `<p id="checkpoint" class="muted">No checkpoint yet.</p>`)
		w := f.do(f.admin, http.MethodPost, "/audit/checkpoint?actor="+url.QueryEscape(guest)+"&cursor=x", "en")
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		require.Equal(t, "/audit?actor=user%3Adevelopment%2Fguest&notice=notice.audit.checkpoint_taken", w.Header().Get("Location"))
		recs := f.auditor.Records()
		require.Len(t, recs, 1)
		require.Equal(t, EventCheckpoint, recs[0].EventID)
		require.Equal(t, auth.StatusSucceeded, recs[0].Status)
		require.Equal(t, alice, recs[0].Actor.ActorID)
		require.Equal(t, int64(2), recs[0].Meta["rows"])
		entries, err := f.history.Recent(t.Context(), audit.CheckpointTopic, 0, 5)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		for lang, want := range map[string][]string{
			"en": {`role="status">A checkpoint was taken; it is shown under Last checkpoint.</div>`, `<dd id="checkpoint-rows">2</dd>`,
				fmt.Sprintf(`<a href="/events/%d">event %d in the history</a>`, entries[0].Seq, entries[0].Seq)},
			"de": {`role="status">Ein Prüfpunkt wurde gesetzt; er steht unter „Letzter Prüfpunkt“.</div>`, "Gesetzt</dt>"},
		} {
			body := f.do(f.admin, http.MethodGet, w.Header().Get("Location"), lang).Body.String()
			for _, s := range want {
				require.Contains(t, body, s)
			}
		}
		require.Equal(t, http.StatusForbidden, f.do(f.other, http.MethodPost, "/audit/checkpoint", "en").Code)
		entries, err = f.history.Recent(t.Context(), audit.CheckpointTopic, 0, 5)
		require.NoError(t, err)
		require.Len(t, entries, 1, "a refused request takes no checkpoint")
		require.Len(t, f.auditor.Records(), 1)
	})
	t.Run("this process's", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, false)
		f.add(t, 3)
		w := f.do(f.admin, http.MethodPost, "/audit/checkpoint", "de")
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		require.Equal(t, "/audit?notice=notice.audit.checkpoint_taken", w.Header().Get("Location"))
		body := f.do(f.admin, http.MethodGet, "/audit", "de").Body.String()
		require.Contains(t, body, "von dieser Instanz gesetzt")
		require.Contains(t, body, `<dd id="checkpoint-rows">3</dd>`)
		body = f.do(f.admin, http.MethodPost, "/audit/verify", "en").Body.String()
		require.Contains(t, body, "and the chain extends the last checkpoint (3 rows).")
	})
	t.Run("failed", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, false)
		require.NoError(t, f.db.Close())
		w := f.do(f.admin, http.MethodPost, "/audit/checkpoint", "en")
		require.Equal(t, http.StatusServiceUnavailable, w.Code)
		require.Contains(t, w.Body.String(), "the checkpoint could not be taken")
		recs := f.auditor.Records()
		require.Len(t, recs, 1)
		require.Equal(t, auth.StatusFailed, recs[0].Status)
	})
}

// TestLastCheckpoint: the newest checkpoint event of the history wins over this process's;
// an unreadable one is passed over.
func TestLastCheckpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	f.add(t, 2)
	pg := &page{store: f.store, checkpointer: f.cp, db: f.db, history: f.history, auditor: f.auditor}
	cp, err := pg.lastCheckpoint(t.Context())
	require.NoError(t, err)
	require.Nil(t, cp)
	taken, err := f.cp.Take(t.Context())
	require.NoError(t, err)
	// Another instance's later checkpoint, on the bus only.
	var cfg sqlbus.Config
	cfg.SetDefaults()
	b, err := sqlbus.New(f.db, cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	require.NoError(t, b.Start(t.Context()))
	t.Cleanup(func() { _ = b.Close() })
	other := audit.Checkpoint{Rows: 1, Hash: strings.Repeat("ab", 32), Time: recordTime}
	require.NoError(t, b.Publish(audit.CheckpointTopic, message.NewMessage("other", []byte(fmt.Sprintf(`{"rows":1,"hash":%q,"time":"2026-05-06T07:08:09Z"}`, other.Hash)))))
	cp, err = pg.lastCheckpoint(t.Context())
	require.NoError(t, err)
	require.Equal(t, other, cp.Checkpoint)
	require.Positive(t, cp.Seq)
	require.Equal(t, "abababababab", cp.Short)
	require.NoError(t, b.Publish(audit.CheckpointTopic, message.NewMessage("bad", []byte(`{"rows":1,"hash":"nope"}`))))
	cp, err = pg.lastCheckpoint(t.Context())
	require.NoError(t, err)
	require.Equal(t, taken, cp.Checkpoint)
	require.Zero(t, cp.Seq)
}

func TestParseFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query string
		from  time.Time
		to    time.Time
		form  filterForm
		canon string
	}{
		{"", time.Time{}, time.Time{}, filterForm{}, ""},
		{"actor=a&eventId=e&status=failed&cursor=c", time.Time{}, time.Time{}, filterForm{Actor: "a", EventID: "e", Status: "failed"}, "actor=a&eventId=e&status=failed"},
		{"from=2026-05-06T07:08", recordTime.Add(-9 * time.Second), time.Time{}, filterForm{From: "2026-05-06T07:08"}, "from=2026-05-06T07%3A08%3A00Z"},
		{"to=2026-05-06T07:08:09", time.Time{}, recordTime, filterForm{To: "2026-05-06T07:08:09"}, "to=2026-05-06T07%3A08%3A09Z"},
		{"to=2026-05-06T09:08:09.5%2B02:00", time.Time{}, recordTime.Add(500 * time.Millisecond), filterForm{To: "2026-05-06T07:08:09"}, "to=2026-05-06T07%3A08%3A09.5Z"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			f, form, canon, err := parseFilter(q)
			require.NoError(t, err)
			require.True(t, tc.from.Equal(f.From), "from %s", f.From)
			require.True(t, tc.to.Equal(f.To), "to %s", f.To)
			require.Equal(t, tc.form, form)
			require.Equal(t, tc.canon, canon.Encode())
			require.Equal(t, pageSize, f.Limit)
		})
	}
}
