package consoletest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/stagebus/stagebus/internal/testenv"
)

// ChromiumCommand is the command Browser runs, looked up on PATH.
const ChromiumCommand = "chromium"

// startTimeout bounds the start of the browser. The start itself runs on a context without
// a deadline (a deadline there would stop the browser when it passes), so a watchdog cancels
// the allocator instead.
const startTimeout = 60 * time.Second

// errClosed is the error of Browser after Close.
var errClosed = errors.New("consoletest: Browser called after Close")

// shared is the browser of the test binary. once guards ctx, cancel, userAgent, err and
// missing, which never change after it ran.
var shared struct {
	once      sync.Once
	ctx       context.Context // the chromedp context that owns the browser
	cancel    context.CancelFunc
	userAgent string // the browser's own User-Agent, for TabOptions.AcceptLanguage
	started   string // what Browser logs once
	err       error
	missing   bool // chromium is not installed: skip rather than fail
	logOnce   sync.Once
	closeOnce sync.Once
}

// Browser returns the chromedp context of the test binary's headless Chromium, starting it
// on the first call: chromium from PATH with chromedp's DefaultExecAllocatorOptions
// (headless, disable-dev-shm-usage for Docker's small /dev/shm; chromedp adds --no-sandbox
// when it runs as root) and a 1280×800 window. It is safe for concurrent use.
//
// Use Tab for a test; a test that needs a raw tab derives one with chromedp.NewContext
// from the returned context and cancels it when done. Never put a deadline on the returned
// context itself or cancel it: that stops the browser for every other test.
//
// When chromium is not installed, Browser ends t through testenv.Missing (a skip locally, a
// failure under PLATFORM_REQUIRE_REAL_SERVICES=1); when it does not start, t fails.
func Browser(t testing.TB) context.Context {
	t.Helper()
	shared.once.Do(start)
	switch {
	case shared.missing:
		testenv.Missing(t, "%v; install it with: ENSURE_NO_RECOMMENDS=1 scripts/ensure-commands %s", shared.err, ChromiumCommand)
	case shared.err != nil:
		t.Fatal(shared.err)
	}
	shared.logOnce.Do(func() { t.Log(shared.started) })
	return shared.ctx
}

// Close stops the browser and removes its temporary profile, waiting at most 10 s for a
// graceful exit. Call it from TestMain after m.Run, when no test runs any more; Browser fails
// afterwards. Close without a started browser only prevents a later start.
func Close() {
	shared.closeOnce.Do(func() {
		shared.once.Do(func() { shared.err = errClosed })
		if shared.ctx == nil {
			return
		}
		ctx, cancel := context.WithTimeout(shared.ctx, 10*time.Second)
		_ = chromedp.Cancel(ctx) // the browser is going away either way
		cancel()
		shared.cancel()
		shared.ctx, shared.err = nil, errClosed
	})
}

// start starts the browser and fills in shared; it runs once.
func start() {
	path, err := exec.LookPath(ChromiumCommand)
	if err != nil {
		shared.err, shared.missing = fmt.Errorf("consoletest: no browser: %w", err), true
		return
	}
	output := &tail{max: 4 << 10}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	cancel := func() { cancelCtx(); cancelAlloc() }

	began := time.Now()
	version, err := startBrowser(ctx, cancel)
	if err != nil {
		cancel()
		shared.err = fmt.Errorf("consoletest: start %s: %w; its output: %q", path, err, output.String())
		return
	}
	shared.ctx, shared.cancel, shared.userAgent = ctx, cancel, version.UserAgent
	shared.started = fmt.Sprintf("consoletest: started %s (%s) in %s", version.Product, path, time.Since(began).Round(time.Millisecond))
}

// startBrowser runs the first action on ctx, which starts the browser and binds it to ctx,
// and asks for its version. After startTimeout it gives up and calls cancel, which kills a
// browser that hangs.
func startBrowser(ctx context.Context, cancel func()) (browser.GetVersionResult, error) {
	type result struct {
		version browser.GetVersionResult
		err     error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if r.err = chromedp.Do(ctx); r.err == nil {
			r.version, r.err = chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
		}
		done <- r
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.version, r.err
	case <-timer.C:
		cancel()
		return browser.GetVersionResult{}, fmt.Errorf("no answer within %s", startTimeout)
	}
}

// tail keeps the last max bytes written to it: the browser's output, for the error of a
// failed start. The browser writes from its own goroutines.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if extra := len(w.buf) - w.max; extra > 0 {
		w.buf = append(w.buf[:0], w.buf[extra:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
