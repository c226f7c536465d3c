package consoletest_test

import (
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/console/consoletest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	consoletest.Close()
	os.Exit(code)
}

// page is the HTML of the self-test's pages; every page gets the strict CSP of csp.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>consoletest</title>
{{range .Scripts}}<script src="{{.}}" defer></script>
{{end}}</head>
<body><main data-accept-language="{{.AcceptLanguage}}">
<h1>{{.Heading}}</h1>
<p id="out"></p>
<form action="/submit" method="get">
<label for="q">Query</label> <input id="q" name="q">
<button id="go" type="submit">Go</button>
</form>
{{if .Inline}}<script>document.getElementById("out").textContent = "inline ran";</script>{{end}}
</main></body></html>
`))

const csp = "default-src 'none'; script-src 'self'"

// server serves the self-test's site: / with /app.js, which writes into #out; /submit, the
// form's target; /inline, whose inline script the CSP blocks; /boom with /boom.js, which
// throws.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	render := func(w http.ResponseWriter, r *http.Request, heading string, inline bool, scripts ...string) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		err := page.Execute(w, map[string]any{
			"AcceptLanguage": r.Header.Get("Accept-Language"),
			"Heading":        heading,
			"Inline":         inline,
			"Scripts":        scripts,
		})
		if err != nil {
			t.Error(err)
		}
	}
	js := func(src string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, src)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { render(w, r, "Start", false, "/app.js") })
	mux.HandleFunc("GET /app.js", js(`document.getElementById("out").textContent = "hello from app.js";`))
	mux.HandleFunc("GET /submit", func(w http.ResponseWriter, r *http.Request) { render(w, r, "Asked for "+r.FormValue("q"), false) })
	mux.HandleFunc("GET /inline", func(w http.ResponseWriter, r *http.Request) { render(w, r, "Inline", true) })
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { render(w, r, "Boom", false, "/boom.js") })
	mux.HandleFunc("GET /boom.js", js(`throw new Error("boom from boom.js");`))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTab(t *testing.T) {
	t.Parallel()
	srv := server(t)
	ctx := consoletest.Tab(t, consoletest.TabOptions{AcceptLanguage: "de-DE,de"})

	consoletest.Navigate(t, ctx, srv.URL+"/")
	consoletest.WaitText(t, ctx, "#out", "hello from app.js")
	require.Equal(t, "Start", consoletest.Text(t, ctx, "h1"))

	// The language reaches the page and the server alike; the time zone is the default.
	require.Equal(t, "de-DE", consoletest.Eval[string](t, ctx, "navigator.language"))
	require.Equal(t, []string{"de-DE", "de"}, consoletest.Eval[[]string](t, ctx, "navigator.languages"))
	require.True(t, strings.HasPrefix(consoletest.Attr(t, ctx, "main", "data-accept-language"), "de-DE"),
		"Accept-Language %q", consoletest.Attr(t, ctx, "main", "data-accept-language"))
	require.Equal(t, "Europe/Berlin", consoletest.Eval[string](t, ctx, "Intl.DateTimeFormat().resolvedOptions().timeZone"))
	require.Equal(t, "de-DE", consoletest.Eval[string](t, ctx, "Intl.DateTimeFormat().resolvedOptions().locale"))
	require.Equal(t, 1280, consoletest.Eval[int](t, ctx, "window.innerWidth"))
	require.Equal(t, 42, consoletest.Eval[int](t, ctx, "Promise.resolve(42)"))

	consoletest.SendKeys(t, ctx, "#q", "Grüße")
	consoletest.Click(t, ctx, "#go")
	consoletest.WaitText(t, ctx, "h1", "Asked for Grüße")
	require.Contains(t, consoletest.Location(t, ctx), "/submit?q=Gr%C3%BC%C3%9Fe")
	consoletest.SetValue(t, ctx, "#q", "set")
	require.Equal(t, "set", consoletest.Eval[string](t, ctx, `document.getElementById("q").value`))

	path := consoletest.Screenshot(t, ctx, "consoletest/self-test")
	require.True(t, strings.HasSuffix(path, "/test-output/console/consoletest-self-test.png"), path)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, 1280, img.Bounds().Dx())

	require.Empty(t, consoletest.Errors(ctx))
}

// TestTabsKeepTheirCookies: a tab's cookies stay in its tab, so that parallel tests, whose
// servers all are on 127.0.0.1, do not sign each other out.
func TestTabsKeepTheirCookies(t *testing.T) {
	t.Parallel()
	srv := server(t)
	one := consoletest.Tab(t, consoletest.TabOptions{})
	two := consoletest.Tab(t, consoletest.TabOptions{})
	consoletest.Navigate(t, one, srv.URL+"/")
	consoletest.Navigate(t, two, srv.URL+"/")
	require.Equal(t, "who=one", consoletest.Eval[string](t, one, `document.cookie = "who=one", document.cookie`))
	consoletest.Navigate(t, two, srv.URL+"/")
	require.Empty(t, consoletest.Eval[string](t, two, `document.cookie`))
}

func TestTabConsoleErrors(t *testing.T) {
	t.Parallel()
	srv := server(t)

	t.Run("recorded", func(t *testing.T) {
		ctx := consoletest.Tab(t, consoletest.TabOptions{
			Timezone:    "America/New_York",
			AllowErrors: []string{"Content Security Policy", "boom from boom.js", "bad thing"},
		})
		require.Equal(t, "America/New_York", consoletest.Eval[string](t, ctx, "Intl.DateTimeFormat().resolvedOptions().timeZone"))
		consoletest.Navigate(t, ctx, srv.URL+"/inline")
		consoletest.Navigate(t, ctx, srv.URL+"/boom")
		consoletest.Eval[struct{}](t, ctx, `console.error("bad thing", 42)`)

		errs := consoletest.Errors(ctx)
		t.Logf("recorded:\n%s", strings.Join(errs, "\n"))
		require.Len(t, errs, 3)
		require.Contains(t, errs[0], "log security: Executing inline script violates the following Content Security Policy directive")
		require.Contains(t, errs[0], "/inline:12)")
		require.Contains(t, errs[1], "exception: Uncaught Error: boom from boom.js")
		require.Contains(t, errs[1], "/boom.js:1:")
		require.Contains(t, errs[2], "console.error: bad thing 42")
	})

	t.Run("fail the test", func(t *testing.T) {
		ft := &fakeT{TB: t}
		t.Cleanup(ft.cleanUp) // should the test end early
		ctx := consoletest.Tab(ft, consoletest.TabOptions{AllowErrors: []string{"boom"}})
		consoletest.Navigate(t, ctx, srv.URL+"/inline")
		consoletest.Navigate(t, ctx, srv.URL+"/boom")
		ft.cleanUp()
		require.Len(t, ft.errors, 1)
		require.Contains(t, ft.errors[0], "1 console error(s)")
		require.Contains(t, ft.errors[0], "inline script violates the following Content Security Policy")
		require.NotContains(t, ft.errors[0], "boom")
	})
}

// fakeT is a test whose Errorf and Cleanup Tab's contract concerns: it records the errors and
// runs the cleanups when cleanUp says.
type fakeT struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// cleanUp runs the cleanups, last first, once.
func (f *fakeT) cleanUp() {
	for len(f.cleanups) > 0 {
		fn := f.cleanups[len(f.cleanups)-1]
		f.cleanups = f.cleanups[:len(f.cleanups)-1]
		fn()
	}
}
