package consoletest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// WaitTimeout bounds each helper: a step that has not succeeded after WaitTimeout fails the
// test.
const WaitTimeout = 15 * time.Second

// pollInterval is how often WaitText looks at the page again.
const pollInterval = 100 * time.Millisecond

// Navigate loads url in the tab of ctx and waits for its load event. An HTTP error status is
// no failure (the page loaded); a network error is.
func Navigate(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	if err := do(ctx, chromedp.Navigate(url)); err != nil {
		fail(t, ctx, "Navigate(%q): %v", url, err)
	}
}

// WaitVisible waits until the element of sel exists and is visible.
func WaitVisible(t testing.TB, ctx context.Context, sel string) {
	t.Helper()
	if err := do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		fail(t, ctx, "WaitVisible(%q): %v", sel, err)
	}
}

// Click waits until the element of sel is visible and clicks its centre with the mouse, as a
// user would (an element on top of it gets the click). It does not wait for a navigation
// the click starts: follow it with WaitVisible, WaitText or Location checks.
func Click(t testing.TB, ctx context.Context, sel string) {
	t.Helper()
	if err := do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		fail(t, ctx, "Click(%q): %v", sel, err)
	}
}

// SetValue waits for the element of sel and sets its value property (an input, textarea or
// select) without firing input or change events; SendKeys types like a user.
func SetValue(t testing.TB, ctx context.Context, sel, value string) {
	t.Helper()
	if err := do(ctx, chromedp.SetValue(chromedp.CSS(sel), value)); err != nil {
		fail(t, ctx, "SetValue(%q): %v", sel, err)
	}
}

// SendKeys waits until the element of sel is visible, focuses it and types text with key
// events, after any value it has; "\n" is Enter.
func SendKeys(t testing.TB, ctx context.Context, sel, text string) {
	t.Helper()
	if err := do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text)); err != nil {
		fail(t, ctx, "SendKeys(%q): %v", sel, err)
	}
}

// Text waits for the element of sel and returns its visible text (innerText).
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	s, err := run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		fail(t, ctx, "Text(%q): %v", sel, err)
	}
	return s
}

// WaitText waits until the element of sel exists and its visible text contains substring,
// looking every 100 ms; unlike a single query it survives the navigations in between, so it
// can follow a Click that loads a page.
func WaitText(t testing.TB, ctx context.Context, sel, substring string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, WaitTimeout)
	defer cancel()
	// innerText of the first match, or null.
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.innerText : null; })()`, jsString(sel))
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last *string
	var lastErr error
	for {
		// An evaluation in a page that is going away fails; the next one runs in the new page.
		text, err := chromedp.Run(wctx, chromedp.Evaluate[*string](js))
		if err == nil {
			last, lastErr = text, nil
			if text != nil && strings.Contains(*text, substring) {
				return
			}
		} else if wctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-wctx.Done():
			switch {
			case last != nil:
				fail(t, ctx, "WaitText(%q, %q): after %s the text is %q", sel, substring, WaitTimeout, *last)
			case lastErr != nil:
				fail(t, ctx, "WaitText(%q, %q): %v", sel, substring, lastErr)
			default:
				fail(t, ctx, "WaitText(%q, %q): after %s no element matches", sel, substring, WaitTimeout)
			}
			return
		case <-ticker.C:
		}
	}
}

// Location returns the URL of the tab's document.
func Location(t testing.TB, ctx context.Context) string {
	t.Helper()
	s, err := run(ctx, chromedp.Location())
	if err != nil {
		fail(t, ctx, "Location: %v", err)
	}
	return s
}

// Attr waits for the element of sel and returns its attribute name, or "" when it has none;
// use Eval with hasAttribute where an empty attribute and none differ.
func Attr(t testing.TB, ctx context.Context, sel, name string) string {
	t.Helper()
	a, err := run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		fail(t, ctx, "Attr(%q, %q): %v", sel, name, err)
	}
	return a.Value
}

// Eval evaluates the JavaScript expression js in the tab's page, awaits it when it is a
// promise, and returns its value decoded from JSON into T. A thrown exception, or null or
// undefined where T cannot be nil, fails the test. An exception caught here is no console
// error.
func Eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	v, err := run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		fail(t, ctx, "Eval(%q): %v", js, err)
	}
	return v
}

// do runs the steps with WaitTimeout.
func do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	wctx, cancel := context.WithTimeout(ctx, WaitTimeout)
	defer cancel()
	return explain(ctx, chromedp.Do(wctx, steps...))
}

// run runs a with WaitTimeout.
func run[T any](ctx context.Context, a chromedp.Action[T]) (T, error) {
	wctx, cancel := context.WithTimeout(ctx, WaitTimeout)
	defer cancel()
	v, err := chromedp.Run(wctx, a)
	return v, explain(ctx, err)
}

// explain says which limit an error of a step on the tab ctx ran into: a query that matches
// nothing waits until its deadline.
func explain(ctx context.Context, err error) error {
	switch {
	case err == nil || !errors.Is(err, context.DeadlineExceeded):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("the tab's %s are over: %w", TabTimeout, err)
	}
	return fmt.Errorf("not done within %s (no element matched, or the page did not load): %w", WaitTimeout, err)
}

// fail ends the test with the message, the page's URL and a screenshot, when the tab still
// answers, to help whoever reads the log.
func fail(t testing.TB, ctx context.Context, format string, args ...any) {
	t.Helper()
	msg := "consoletest: " + fmt.Sprintf(format, args...)
	if ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if url, err := chromedp.Run(dctx, chromedp.Location()); err == nil {
			msg += "\n\tpage: " + url
		}
		if png, err := chromedp.Run(dctx, chromedp.FullScreenshot(100)); err == nil {
			if path, err := writeScreenshot(t.Name()+"-failed", png); err == nil {
				msg += "\n\tscreenshot: " + path
			}
		}
	}
	t.Fatal(msg)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// Press types keys into whatever has the focus, as a user would: "\t" is Tab, "\r" Enter
// (see chromedp's kb package for the others).
func Press(t testing.TB, ctx context.Context, keys string) {
	t.Helper()
	if err := do(ctx, chromedp.KeyEvent(keys)); err != nil {
		fail(t, ctx, "Press(%q): %v", keys, err)
	}
}
