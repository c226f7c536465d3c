package console_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/console/pagetest"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
)

// section is a test section with one page and one admin page.
func section(page string) console.Section {
	return console.Section{
		Name: "things",
		Templates: fstest.MapFS{
			"list.html": {Data: []byte(page)},
		},
		Messages: i18n.Source{Name: "things", FS: fstest.MapFS{
			"en.yaml": {Data: []byte("things.title: Things\nthings.nav: Things\nthings.count:\n  one: \"{{.Count}} thing\"\n  other: \"{{.Count}} things\"\nnotice.things.done: Done.\n")},
			"de.yaml": {Data: []byte("things.title: Dinge\nthings.nav: Dinge\nthings.count:\n  one: \"{{.Count}} Ding\"\n  other: \"{{.Count}} Dinge\"\nnotice.things.done: Erledigt.\n")},
		}},
		Nav: []console.Nav{{Path: "/things", Label: "things.nav", Order: 1}},
		Live: []console.Live{{Name: "ticks", Every: 10 * time.Millisecond, Tick: func(_ context.Context, v *console.View, arg string) ([]console.Update, error) {
			return []console.Update{{Target: "#n", HTML: "tick " + arg}}, nil
		}}},
		Pages: []console.Page{
			{Method: http.MethodGet, Path: "/things", Handler: func(w http.ResponseWriter, r *http.Request, v *console.View) error {
				return v.Render(w, http.StatusOK, "things/list", 1234)
			}},
			{Method: http.MethodGet, Path: "/things/admin", Admin: true, Handler: func(w http.ResponseWriter, r *http.Request, v *console.View) error {
				return v.Render(w, http.StatusOK, "things/list", 1)
			}},
			{Method: http.MethodGet, Path: "/things/broken", Handler: func(w http.ResponseWriter, r *http.Request, v *console.View) error {
				return httpserver.Errorf(http.StatusConflict, "it is broken")
			}},
		},
	}
}

const thingsPage = `{{define "title"}}{{t "things.title"}}{{end}}{{define "content"}}<h1>{{t "things.title"}}</h1><p id="n">{{num .D}} · {{t "things.count" "Count" .D}}</p>{{end}}`

// newServer serves a console with the test section for user.
func newServer(t *testing.T, user string, o console.Options) http.Handler {
	t.Helper()
	if o.Sections == nil {
		o.Sections = []console.Section{section(thingsPage)}
	}
	return pagetest.Serve(t, user, o)
}

func get(t *testing.T, h http.Handler, target string, _ bool, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return pagetest.Get(t, h, target, header...)
}

// TestPagesAndLanguages: a page renders in the layout in the language asked for, with the
// navigation, and numbers formatted for it; refusals are a redirect to sign in or an HTML
// 403; the console's headers are on every page.
func TestPagesAndLanguages(t *testing.T) {
	t.Parallel()
	alice := newServer(t, pagetest.Admin, console.Options{})
	bob := newServer(t, pagetest.User, console.Options{})
	nobody := newServer(t, "", console.Options{})
	for _, tc := range []struct {
		name     string
		h        http.Handler
		target   string
		header   []string
		status   int
		contains []string
		location string
	}{
		{"English", alice, "/things", nil, 200, []string{`<html lang="en">`, `<title>Things · Stagebus</title>`, `<p id="n">1,234 · 1,234 things</p>`, `aria-current="page">Things</a>`}, ""},
		{"German by Accept-Language", alice, "/things", []string{"Accept-Language", "de-CH, en;q=0.5"}, 200, []string{`<html lang="de">`, `<p id="n">1.234 · 1.234 Dinge</p>`, "Abmelden"}, ""},
		{"cookie wins", alice, "/things", []string{"Accept-Language", "de", "Cookie", "stagebus-lang=en"}, 200, []string{`<html lang="en">`}, ""},
		{"notice of the console", alice, "/things?notice=notice.things.done", nil, 200, []string{`role="status">Done.</div>`}, ""},
		{"other messages are no notice", alice, "/things?notice=things.title", nil, 200, nil, ""},
		{"admin page for admin", alice, "/things/admin", nil, 200, []string{"1 thing<"}, ""},
		{"admin page for non-admin", bob, "/things/admin", nil, 403, []string{"<h1>Error 403</h1>", "You may not see this page"}, ""},
		{"handler error", alice, "/things/broken", []string{"Accept-Language", "de"}, 409, []string{"<h1>Fehler 409</h1>", "<code>it is broken</code>"}, ""},
		{"no session", nobody, "/things?x=1", nil, 303, nil, "/signin?next=%2Fthings%3Fx%3D1"},
		{"no session, script", nobody, "/things", []string{"X-Console-Fragment", "1"}, 401, []string{`"AuthenticationError"`}, ""},
		{"sign-in page", nobody, "/signin?next=/things", nil, 200, []string{`href="/api/auth/oidc/start?flow=redirect&amp;redirectUrl=%2Fthings"`, `id="signin-guest"`, `name="next" value="/things"`}, ""},
		{"sign-in page keeps people here", nobody, "/signin?next=//evil.example/x", nil, 200, []string{`name="next" value="/"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(t, tc.h, tc.target, true, tc.header...)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			for _, s := range tc.contains {
				require.Contains(t, w.Body.String(), s)
			}
			if tc.location != "" {
				require.Equal(t, tc.location, w.Header().Get("Location"))
			}
			if tc.status != 401 {
				require.Contains(t, w.Header().Get("Content-Security-Policy"), "script-src 'self';")
				require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
				require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			}
			if tc.name == "other messages are no notice" {
				require.NotContains(t, w.Body.String(), `class="notice"`)
			}
		})
	}
	// Non-admins see no admin navigation; an admin page is not in the test's nav, so check
	// the nav itself.
	require.Contains(t, get(t, bob, "/things", true).Body.String(), `href="/things"`)
}

// TestForms: guest sign-in, the language switch and sign-out answer 303 to a local page;
// the public POSTs refuse other sites (login CSRF).
func TestForms(t *testing.T) {
	t.Parallel()
	h := newServer(t, pagetest.Admin, console.Options{})
	closed := newServer(t, pagetest.Admin, console.Options{Auth: pagetest.Auth{Guest: false}})
	post := func(h http.Handler, target, body string, header ...string) *httptest.ResponseRecorder {
		form, err := url.ParseQuery(body)
		require.NoError(t, err)
		return pagetest.Post(t, h, target, form, header...)
	}
	for _, tc := range []struct {
		name     string
		h        http.Handler
		target   string
		body     string
		header   []string
		status   int
		location string
		cookie   string
	}{
		{"guest", h, "/signin/guest", "next=/things", nil, 303, "/things", "backstage-auth=guest-token"},
		{"guest goes nowhere else", h, "/signin/guest", "next=https://evil.example/", nil, 303, "/", "backstage-auth=guest-token"},
		{"guest refused", closed, "/signin/guest", "next=/", nil, 403, "", ""},
		{"guest from another site", h, "/signin/guest", "next=/", []string{"Sec-Fetch-Site", "cross-site"}, 403, "", ""},
		{"language", h, "/locale", "lang=de&next=/things?a=b", nil, 303, "/things?a=b", "stagebus-lang=de"},
		{"unknown language", h, "/locale", "lang=fr&next=/", nil, 400, "", ""},
		{"language from another site", h, "/locale", "lang=de", []string{"Sec-Fetch-Site", "cross-site"}, 403, "", ""},
		{"sign-out", h, "/signout", "", nil, 303, "/signin", "backstage-auth="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := post(tc.h, tc.target, tc.body, tc.header...)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			require.Equal(t, tc.location, w.Header().Get("Location"))
			if tc.cookie != "" {
				require.Contains(t, w.Header().Get("Set-Cookie"), tc.cookie)
			}
		})
	}
}

// TestStartUpChecks: what would fail a page at run time fails start-up instead.
func TestStartUpChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		page    string
		problem string
	}{
		{"missing message", `{{define "title"}}{{t "things.nope"}}{{end}}{{define "content"}}{{end}}`, "messages missing from the catalogs: things.nope"},
		{"template syntax", `{{define "title"}}{{end}}{{define "content"}}{{if}}{{end}}`, "section things"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := console.New(console.Options{Sections: []console.Section{section(tc.page)}, Auth: pagetest.Auth{}, SignIn: pagetest.SignIn{}, MaxStreams: 1})
			require.ErrorContains(t, err, tc.problem)
		})
	}
	_, err := console.New(console.Options{Sections: []console.Section{section(thingsPage), section(thingsPage)}, Auth: pagetest.Auth{}, SignIn: pagetest.SignIn{}, MaxStreams: 1})
	require.ErrorContains(t, err, `two sections are named "things"`)
}

// TestLive: a stream sends the channels' updates as server-sent events; channels asked for
// twice, too many or unknown are refused.
func TestLive(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newServer(t, pagetest.User, console.Options{}))
	t.Cleanup(srv.Close)
	open := func(ch string) *http.Response {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		t.Cleanup(cancel)
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/live?ch="+url.QueryEscape(ch), nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(httpservertest.Authorize(r))
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tc := range []struct {
		ch      string
		status  int
		message string
	}{
		{"ticks:a,ticks:a", http.StatusBadRequest, `channel \"ticks:a\" is asked for twice`},
		{"ticks:a,ticks:b,ticks:c,ticks:d,ticks:e", http.StatusBadRequest, "at most 4 channels"},
		{"nope", http.StatusBadRequest, `no live channel \"nope\"`},
	} {
		resp := open(tc.ch)
		require.Equal(t, tc.status, resp.StatusCode, tc.ch)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Contains(t, string(body), tc.message)
	}
	resp := open("ticks:a,ticks:b")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	lines := bufio.NewScanner(resp.Body)
	var got []string
	for len(got) < 2 && lines.Scan() {
		if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
			got = append(got, data)
		}
	}
	require.ElementsMatch(t, []string{`{"target":"#n","html":"tick a"}`, `{"target":"#n","html":"tick b"}`}, got)
}

// TestAssets: assets are served under their content hash, cacheable forever; others are 404.
func TestAssets(t *testing.T) {
	t.Parallel()
	h := newServer(t, "", console.Options{})
	page := get(t, h, "/signin", false).Body.String()
	i := strings.Index(page, `/assets/console.`)
	require.Positive(t, i)
	css := page[i : i+strings.Index(page[i:], `"`)]
	w := get(t, h, css, false)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Header().Get("Cache-Control"), "immutable")
	require.Contains(t, w.Body.String(), "--focus")
	require.Equal(t, http.StatusNotFound, get(t, h, "/assets/console.css", false).Code)
}
