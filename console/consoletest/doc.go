// Package consoletest drives a headless Chromium for the browser tests of the operator
// console (cmd/platform's console_browser_test.go and the like), with chromedp.
//
// A test asks for a tab and walks through the page with the helpers. Each helper waits at
// most WaitTimeout; when it fails, it ends the test with t.Fatal naming the selector and
// the page's URL, and saves a screenshot as <test name>-failed.png (see Screenshot):
//
//	ctx := consoletest.Tab(t, consoletest.TabOptions{AcceptLanguage: "de"})
//	consoletest.Navigate(t, ctx, srv.URL+"/console/")
//	consoletest.Click(t, ctx, "nav a[href$='/events']")
//	consoletest.WaitText(t, ctx, "main h1", "Ereignisse")
//	consoletest.Screenshot(t, ctx, "events-de")
//
// # The browser
//
// One Chromium (the Debian package chromium, found on PATH) serves the whole test binary.
// Browser starts it on first use and keeps it until the process exits; tabs of parallel
// tests share it safely, one tab per test. Each tab has a browser context of its own (like a
// private window): its cookies, such as the session and the language, are not seen by other
// tabs, although cookies ignore the port and every test server is on 127.0.0.1. On Linux
// the kernel kills the browser when the test process exits (chromedp starts it with
// Pdeathsig), so nothing has to stop it; the
// temporary profile directory in $TMPDIR is left behind then. A package that wants it gone
// calls Close from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		consoletest.Close()
//		os.Exit(code)
//	}
//
// Without chromium the tests that need it skip, unless PLATFORM_REQUIRE_REAL_SERVICES=1
// (CI) makes them fail; see internal/testenv. Install it with
// `ENSURE_NO_RECOMMENDS=1 scripts/ensure-commands chromium`.
//
// # Console errors
//
// Every tab records what a user would see in red in the DevTools console: uncaught
// exceptions and unhandled rejections (Runtime.exceptionThrown), console.error and failed
// console.assert calls (Runtime.consoleAPICalled), and browser log entries of level error
// (Log.entryAdded) — Content-Security-Policy violations and failed loads land there. When
// the test ends, its tab fails it with the list, except for the messages that contain one
// of TabOptions.AllowErrors. Errors returns the list so far.
//
// # Selectors
//
// Selectors are CSS selectors, resolved with document.querySelector: the first match counts.
package consoletest
