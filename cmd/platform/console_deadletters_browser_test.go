package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/console/consoletest"
)

// TestConsoleDeadLetters walks the Dead letters pages as an operator: a push that the flaky
// subscription fails on shows up in the list (in English and German), its page shows the
// handler's error, and once the downstream recovered a confirmed replay hands it to the
// subscription again: the dead letter disappears and the Events page says the subscription
// handled the event.
func TestConsoleDeadLetters(t *testing.T) {
	t.Parallel()
	a := startConsoleApp(t)
	a.flaky.failing.Store(true)
	ctx := consoletest.Tab(t, consoletest.TabOptions{AcceptLanguage: "en-GB"})

	consoletest.Navigate(t, ctx, a.url+"/dead-letters")
	consoletest.WaitText(t, ctx, "h1", "Sign in to Stagebus")
	consoletest.Click(t, ctx, "#signin-guest")
	consoletest.WaitText(t, ctx, "main h1", "Dead letters")
	require.Equal(t, a.url+"/dead-letters", consoletest.Location(t, ctx))

	delivery := "console-dead-" + randomHex(t, 6)
	a.push(t, delivery, "acme/dead")
	row := `#dead-letters-body tr[data-event="` + delivery + `"]`
	waitReload(t, ctx, row, flakyID)
	require.Contains(t, consoletest.Text(t, ctx, row+" .error"), "the console test makes "+delivery+" fail")
	consoletest.WaitText(t, ctx, "#dead-letter-total", "dead letter")
	consoletest.Screenshot(t, ctx, "dead-letters-en")

	// The same list in German, then back to English.
	consoletest.Click(t, ctx, `form.lang button[value="de"]`)
	consoletest.WaitText(t, ctx, "main h1", "Unzustellbare Events")
	require.Equal(t, "de", consoletest.Attr(t, ctx, "html", "lang"))
	consoletest.WaitText(t, ctx, "#dead-letters thead", "Gescheitert am")
	consoletest.WaitText(t, ctx, row, flakyID)
	consoletest.Screenshot(t, ctx, "dead-letters-de")
	consoletest.Click(t, ctx, `form.lang button[value="en"]`)
	consoletest.WaitText(t, ctx, "main h1", "Dead letters")

	// The dead letter: the handler's error, and the event it failed on.
	consoletest.Click(t, ctx, row+" a.inspect")
	consoletest.WaitText(t, ctx, "main h1", "Dead letter of "+delivery)
	consoletest.WaitText(t, ctx, "#dead-letter-error", "the console test makes")
	require.Equal(t, flakyID, consoletest.Text(t, ctx, "#dead-letter-subscription"))
	require.Equal(t, "github.push", consoletest.Text(t, ctx, "#dead-letter-topic"))
	require.Equal(t, "/events?id="+delivery, consoletest.Attr(t, ctx, "#event-link", "href"))
	require.Contains(t, consoletest.Text(t, ctx, "#payload"), `"full_name": "acme/dead"`)
	consoletest.Screenshot(t, ctx, "dead-letter-en")

	// The downstream recovered: replay, confirmed in the dialog.
	a.flaky.failing.Store(false)
	consoletest.Click(t, ctx, "#replay")
	consoletest.WaitVisible(t, ctx, "#replay-dialog")
	consoletest.Click(t, ctx, "#replay-ok")
	consoletest.WaitText(t, ctx, ".notice", "The event is being replayed")
	require.Contains(t, consoletest.Location(t, ctx), a.url+"/dead-letters?notice=")
	consoletest.WaitText(t, ctx, "main h1", "Dead letters")
	waitGone := func(sel string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for consoletest.Eval[bool](t, ctx, `document.querySelector(`+jsQuote(sel)+`) !== null`) {
			if time.Now().After(deadline) {
				t.Fatalf("%s is still on the page", sel)
			}
			time.Sleep(200 * time.Millisecond)
			consoletest.Eval[bool](t, ctx, `location.reload(), true`)
			time.Sleep(300 * time.Millisecond)
			consoletest.WaitVisible(t, ctx, "main h1")
		}
	}
	waitGone(row)

	// The Events page of the github.push event: the flaky subscription handled it.
	consoletest.Navigate(t, ctx, a.url+"/events?id="+delivery)
	consoletest.WaitText(t, ctx, "#events-body", delivery)
	require.True(t, consoletest.Eval[bool](t, ctx, `(() => {
		const tr = [...document.querySelectorAll("#events-body tr")].find((tr) => tr.cells[2].textContent.trim() === "github.push");
		if (!tr) return false;
		tr.querySelector("a.event-id").click();
		return true;
	})()`), "the search lists the github.push event")
	consoletest.WaitText(t, ctx, "main dl", "github.push")
	consoletest.WaitText(t, ctx, "#event-id", delivery)
	waitReload(t, ctx, `#handling tr[data-subscription="`+flakyID+`"]`, "handled")
}
