package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/console/consoletest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/internal/webhooktest"
	"github.com/stagebus/stagebus/logging"
)

// consoleSecret is the GitHub webhook secret of the console's tests.
const consoleSecret = "console-tests-webhook-secret-0123456789"

// flaky is a subscription of github.push that fails while failing is set: its events are
// dead-lettered at the first failure.
type flaky struct{ failing atomic.Bool }

const flakyID = "console-test.flaky"

func (f *flaky) subscription() eventsvc.Subscription {
	return eventsvc.Subscription{
		ID: flakyID, Topics: []string{"github.push"},
		Retry: &eventsvc.RetryPolicy{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		Handler: func(_ context.Context, e eventsvc.Event) error {
			if f.failing.Load() {
				return fmt.Errorf("the console test makes %s fail", e.ID)
			}
			return nil
		},
	}
}

// consoleApp is Stagebus in development (the SQL bus on SQLite, guest sign-in, the guest an
// admin, the example catalog) in this process, with the flaky subscription.
type consoleApp struct {
	url   string
	port  int
	flaky *flaky
}

func startConsoleApp(t *testing.T) *consoleApp {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	port := freePort(t)
	a := &consoleApp{url: fmt.Sprintf("http://127.0.0.1:%d", port), port: port, flaky: &flaky{}}
	tree, err := config.Load([]string{writeConfig(t, fmt.Sprintf(`backend:
  baseUrl: %s
  listen: {host: 127.0.0.1, port: %d}
  database: {connection: %s}
events:
  bus: sql
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: %s
auth:
  environment: development
  admins: [user:development/guest]
catalog:
  locations:
    - {type: file, target: %s}
`, a.url, port, filepath.Join(t.TempDir(), "stagebus.db"), consoleSecret, filepath.Join(wd, "..", "..", "examples", "entities.yaml")))}, nil)
	require.NoError(t, err)
	app := fxtest.New(t,
		app(tree, logging.Options{Out: io.Discard}),
		fx.Provide(eventsvc.AsSubscription(a.flaky.subscription)),
		roots,
		fx.Invoke(func(*httpserver.Server) {}),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return a
}

// push sends a signed GitHub push of repository repo with the delivery id.
func (a *consoleApp) push(t *testing.T, delivery, repo string) {
	t.Helper()
	status, err := webhooktest.SendGitHub(a.port, consoleSecret, "push", delivery, []byte(`{"ref":"refs/heads/main","repository":{"full_name":"`+repo+`"}}`))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)
}

// TestConsole walks the console as an operator in development: sign in as the guest, watch
// a webhook arrive on the Events page without reloading, see which subscriptions handled it,
// and switch to German. Each page is saved as a screenshot in test-output/console.
func TestConsole(t *testing.T) {
	t.Parallel()
	a := startConsoleApp(t)
	ctx := consoletest.Tab(t, consoletest.TabOptions{AcceptLanguage: "en-GB"})

	// Without a session a page sends the browser to sign in, and back after.
	consoletest.Navigate(t, ctx, a.url+"/events")
	require.Equal(t, a.url+"/signin?next=%2Fevents", consoletest.Location(t, ctx))
	consoletest.WaitText(t, ctx, "h1", "Sign in to Stagebus")
	consoletest.Screenshot(t, ctx, "signin-en")
	consoletest.CheckAccessibility(t, ctx)
	consoletest.Click(t, ctx, "#signin-guest")
	consoletest.WaitText(t, ctx, "main h1", "Events")
	require.Equal(t, a.url+"/events", consoletest.Location(t, ctx))
	consoletest.WaitText(t, ctx, "#who", "user:development/guest")

	// A webhook appears at the top of the list while the page stays open.
	marker := consoletest.Eval[bool](t, ctx, `(window.stagebusMarker = true)`)
	require.True(t, marker)
	delivery := "console-" + randomHex(t, 6)
	a.push(t, delivery, "acme/console")
	consoletest.WaitText(t, ctx, "#events-body", delivery)
	consoletest.WaitText(t, ctx, "[data-live-status]", "new event")
	require.True(t, consoletest.Eval[bool](t, ctx, `window.stagebusMarker === true`), "the page was reloaded")
	consoletest.Screenshot(t, ctx, "events-en")
	consoletest.CheckAccessibility(t, ctx)

	// The github.push event: the flaky subscription handled it.
	consoletest.Click(t, ctx, `#events-body tr:first-child a.event-id`)
	consoletest.WaitText(t, ctx, "#event-id", delivery)
	consoletest.WaitText(t, ctx, "main h1", "Event ")
	require.Contains(t, consoletest.Text(t, ctx, "main dl"), "github.push")
	waitReload(t, ctx, `#handling tr[data-subscription="`+flakyID+`"]`, "handled, at the latest on")
	handledBy := consoletest.Attr(t, ctx, `#handling tr[data-subscription="`+flakyID+`"] time.handled-by`, "datetime")
	at, err := time.Parse(time.RFC3339, handledBy)
	require.NoError(t, err, "when it was handled")
	require.WithinDuration(t, time.Now(), at, time.Minute)
	require.Contains(t, consoletest.Text(t, ctx, "#payload"), `"full_name": "acme/console"`)
	consoletest.Screenshot(t, ctx, "event-en")
	consoletest.CheckAccessibility(t, ctx)

	// Replay: asked in a dialog, then the copy, linked to the original, is listed.
	consoletest.Click(t, ctx, "#replay")
	consoletest.WaitVisible(t, ctx, "#replay-dialog")
	consoletest.Click(t, ctx, "#replay-ok")
	consoletest.WaitText(t, ctx, ".notice", "The event was replayed")
	copyID := consoletest.Text(t, ctx, "#events-body tr:first-child a.event-id")
	require.NotEqual(t, delivery, copyID)
	consoletest.Click(t, ctx, "#events-body tr:first-child a.event-id")
	consoletest.WaitText(t, ctx, "#replayed-from", delivery)
	waitReload(t, ctx, `#handling tr[data-subscription="`+flakyID+`"]`, "handled")

	// The overview, then the same in German: labels and dates.
	consoletest.Navigate(t, ctx, a.url+"/")
	consoletest.WaitText(t, ctx, "#health", "ready")
	consoletest.WaitText(t, ctx, "#bus-name", "sql")
	consoletest.Screenshot(t, ctx, "overview-en")
	consoletest.CheckAccessibility(t, ctx)

	// The keyboard: the first Tab reaches the skip link, drawn with a visible focus ring;
	// Enter moves the focus to the page's content; the navigation follows the header.
	consoletest.Press(t, ctx, "\t")
	require.Equal(t, "skip", consoletest.Eval[string](t, ctx, `document.activeElement.className`))
	require.Equal(t, "solid", consoletest.Eval[string](t, ctx, `getComputedStyle(document.activeElement).outlineStyle`), "a visible focus ring")
	consoletest.Press(t, ctx, "\r")
	consoletest.WaitText(t, ctx, "main:focus h1", "Overview")
	consoletest.Navigate(t, ctx, a.url+"/")
	consoletest.Press(t, ctx, "\t\t\t") // the skip link, the brand, the navigation
	require.Equal(t, "Overview", consoletest.Eval[string](t, ctx, `document.activeElement.textContent`), "Tab goes on to the navigation")
	consoletest.Click(t, ctx, `form.lang button[value="de"]`)
	consoletest.WaitText(t, ctx, "main h1", "Übersicht")
	require.Equal(t, "de", consoletest.Attr(t, ctx, "html", "lang"))
	consoletest.Screenshot(t, ctx, "overview-de")
	consoletest.CheckAccessibility(t, ctx)
	consoletest.Navigate(t, ctx, a.url+"/events?topic=github.push")
	consoletest.WaitText(t, ctx, "caption", "Die neuesten Events von github.push")
	// Dates in German, in the browser's time zone (Europe/Berlin).
	date := consoletest.Text(t, ctx, "#events-body tr:first-child time")
	require.Regexp(t, `^\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}:\d{2}$`, date)
	consoletest.Screenshot(t, ctx, "events-de")
}

// waitReload reloads the page until the element sel contains want: for states the page
// does not update by itself.
func waitReload(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		text := consoletest.Eval[string](t, ctx, `(document.querySelector(`+jsQuote(sel)+`) || {textContent: ""}).textContent`)
		if strings.Contains(text, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s says %q, not %q", sel, text, want)
		}
		time.Sleep(200 * time.Millisecond)
		consoletest.Eval[bool](t, ctx, `location.reload(), true`)
		time.Sleep(300 * time.Millisecond)
	}
}

func jsQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
