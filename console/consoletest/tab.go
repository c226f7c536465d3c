package consoletest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/cdp/jsonv2"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TabTimeout bounds the life of a tab: its context ends TabTimeout after Tab returned it.
const TabTimeout = 90 * time.Second

// DefaultTimezone is the time zone of a tab whose TabOptions name none.
const DefaultTimezone = "Europe/Berlin"

// TabOptions configures a tab. The zero value is a tab with the browser's languages in
// DefaultTimezone that fails its test on any console error.
type TabOptions struct {
	// AcceptLanguage is the tab's language list, such as "de" or "de-DE,de,en": the first
	// tag becomes navigator.language and the default locale of Intl, the list becomes
	// navigator.languages and, with q-values that Chromium adds, the Accept-Language header
	// of every request. Empty keeps the browser's (en-US).
	AcceptLanguage string
	// Timezone is the IANA time zone the tab's clocks and Intl use; empty means
	// DefaultTimezone.
	Timezone string
	// AllowErrors lists substrings of the console errors the test expects: a recorded error
	// that contains one of them does not fail the test. Errors still returns it.
	AllowErrors []string
}

// Tab opens a new tab of the Browser for t, set up as opts says, and returns its chromedp
// context, which ends after TabTimeout. Run every action of the tab on this context or on
// contexts derived from it, from one goroutine at a time; tabs of parallel tests are
// independent.
//
// When t ends, the tab fails t (with Errorf) if it recorded a console error that
// opts.AllowErrors does not allow, and closes. Tab skips or fails t as Browser does when
// there is no browser, and fails t when the tab cannot be set up.
func Tab(t testing.TB, opts TabOptions) context.Context {
	t.Helper()
	parent := Browser(t)
	if opts.Timezone == "" {
		opts.Timezone = DefaultTimezone
	}
	rec := &recorder{}
	// A browser context of its own: cookies ignore the port, so tabs of parallel tests against
	// servers on 127.0.0.1 would otherwise share (and overwrite) sessions and languages.
	tabCtx, cancelTab := chromedp.NewContext(parent, chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.listen))
	// The first action on ctx opens the tab and binds its life to ctx: the tab closes when
	// the deadline passes, as it should.
	ctx, cancelTimeout := context.WithTimeout(tabCtx, TabTimeout)
	ctx = context.WithValue(ctx, recorderKey{}, rec)
	t.Cleanup(func() {
		var unexpected []string
		for _, e := range Errors(ctx) {
			if !allowed(e, opts.AllowErrors) {
				unexpected = append(unexpected, e)
			}
		}
		cancelTimeout()
		cancelTab()
		if len(unexpected) > 0 {
			t.Errorf("consoletest: the browser reported %d console error(s):\n\t%s", len(unexpected), strings.Join(unexpected, "\n\t"))
		}
	})
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		return setUp(ctx, tgt, opts)
	})); err != nil {
		t.Fatalf("consoletest: open a tab: %v", err)
	}
	return ctx
}

// setUp applies opts to a new tab.
func setUp(ctx context.Context, tgt *chromedp.Target, opts TabOptions) error {
	if opts.AcceptLanguage != "" {
		// Emulation.setUserAgentOverride sets the header and navigator.language(s) alike;
		// Network.setExtraHTTPHeaders would change the header only. It needs a User-Agent,
		// so it gets the browser's own.
		if _, err := cdp.Call(ctx, tgt, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
			UserAgent:      shared.userAgent,
			AcceptLanguage: opts.AcceptLanguage,
		}); err != nil {
			return fmt.Errorf("accept language %q: %w", opts.AcceptLanguage, err)
		}
		first, _, _ := strings.Cut(opts.AcceptLanguage, ",")
		first, _, _ = strings.Cut(first, ";")
		if _, err := cdp.Call(ctx, tgt, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{
			Locale: strings.TrimSpace(first),
		}); err != nil {
			return fmt.Errorf("locale %q: %w", first, err)
		}
	}
	if _, err := cdp.Call(ctx, tgt, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{
		TimezoneID: opts.Timezone,
	}); err != nil {
		return fmt.Errorf("time zone %q: %w", opts.Timezone, err)
	}
	return nil
}

// Errors returns the console errors the tab of ctx (a context from Tab) has recorded so far,
// allowed or not, oldest first, one line each: the kind ("exception", "console.error",
// "console.assert", "log <source>"), the text and, when known, where it came from. It waits
// for the events the browser sent before the call (a round trip of at most 5 s). It panics
// when ctx does not come from Tab.
func Errors(ctx context.Context) []string {
	rec, ok := ctx.Value(recorderKey{}).(*recorder)
	if !ok {
		panic("consoletest: Errors needs a context from Tab")
	}
	// The listener runs on the goroutine that reads the browser's messages, before it reads
	// the next one; so once the answer to a command is here, so are the events that came
	// before it. A tab that is gone answers nothing and sends nothing more.
	syncCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, _ = chromedp.Run(syncCtx, chromedp.Evaluate[chromedp.Void]("0"))
	cancel()
	return rec.errors()
}

// allowed reports whether msg contains one of the substrings.
func allowed(msg string, substrings []string) bool {
	for _, s := range substrings {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// recorderKey is the context key of a tab's recorder.
type recorderKey struct{}

// recorder collects the console errors of one tab. listen runs on chromedp's reader
// goroutine; Errors and the cleanup read from the test's.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// listen records an event if it is an error. It must be fast and must not panic (see
// chromedp.Listen).
func (r *recorder) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		if ev.ExceptionDetails == nil {
			return
		}
		msg = "exception: " + exceptionText(ev.ExceptionDetails)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		msg = "console." + string(ev.Type) + ": " + argsText(ev.Args) + stackPlace(ev.StackTrace)
	case *log.EventEntryAdded:
		if ev.Entry == nil || ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = "log " + string(ev.Entry.Source) + ": " + ev.Entry.Text + place(ev.Entry.URL, ev.Entry.LineNumber, -1)
	default:
		return
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
}

// exceptionText is "Uncaught Error: message (where)", without the stack.
func exceptionText(d *runtime.ExceptionDetails) string {
	text := d.Text
	if d.Exception != nil {
		desc, _, _ := strings.Cut(valueText(d.Exception), "\n")
		text += " " + desc
	}
	url := d.URL
	if url == "" && d.StackTrace != nil && len(d.StackTrace.CallFrames) > 0 {
		url = d.StackTrace.CallFrames[0].URL
	}
	return strings.TrimSpace(text) + place(url, d.LineNumber, d.ColumnNumber)
}

// argsText joins the arguments of a console call as the console shows them, roughly.
func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		parts = append(parts, valueText(a))
	}
	return strings.Join(parts, " ")
}

// valueText is a string as it is, anything else by its description or JSON value.
func valueText(o *runtime.RemoteObject) string {
	if o == nil {
		return "null"
	}
	if o.Type == runtime.RemoteObjectTypeString {
		var s string
		if jsonv2.Unmarshal(o.Value, &s) == nil {
			return s
		}
	}
	switch {
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	case o.Description != "":
		return o.Description
	case len(o.Value) > 0:
		return string(o.Value)
	}
	return string(o.Type)
}

// stackPlace is the place of the top frame of st.
func stackPlace(st *runtime.StackTrace) string {
	if st == nil || len(st.CallFrames) == 0 {
		return ""
	}
	f := st.CallFrames[0]
	return place(f.URL, f.LineNumber, f.ColumnNumber)
}

// place is " (url:line:column)" with 1-based numbers from the protocol's 0-based ones, or ""
// without a URL; a negative column is left out.
func place(url string, line, column int64) string {
	switch {
	case url == "":
		return ""
	case column < 0:
		return fmt.Sprintf(" (%s:%d)", url, line+1)
	}
	return fmt.Sprintf(" (%s:%d:%d)", url, line+1, column+1)
}
