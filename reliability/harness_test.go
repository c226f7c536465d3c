//go:build reliability

package reliability

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/webhooktest"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/subscribers/recorder"
)

// secret is the GitHub webhook secret of every instance.
const secret = "reliability-webhook-secret-0123456789"

const (
	// workers send the load, one repository (one event key) each.
	workers = 4
	// sendEvery paces each worker: 50 pushes a second per key, as many as the recorder's
	// handlerDelay lets a key's events be handled at best. With the bus's own overhead, and no
	// handling while an instance restarts, a backlog builds up: every fault finds deliveries
	// acknowledged and not yet handled.
	sendEvery = 20 * time.Millisecond
	// handlerDelay is events.recorder.handlerDelay.
	handlerDelay = 20 * time.Millisecond
	// drainLimit bounds the wait for the backlog to drain after the load stops.
	drainLimit = 4 * time.Minute
	// stallLimit ends that wait early when no acknowledged delivery was handled for that long
	// (the rest were dead-lettered, or are lost).
	stallLimit = time.Minute
)

// bus is how a scenario's instances carry events: the backend.database and events sections of
// their configuration (shared by every instance) and the Config that reads the same database.
type bus struct {
	yaml string
	db   database.Config
}

// instance is one running Stagebus process.
type instance struct {
	port   int
	config string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// startInstance writes the configuration of an instance listening on port and starts it.
func startInstance(t *testing.T, port int, b bus) *instance {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "app-config.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `backend:
  listen:
    port: %d
%s  recorder:
    topics: [github]
    handlerDelay: %s
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: %s
`, port, b.yaml, handlerDelay, secret), 0o600))
	in := &instance{port: port, config: cfg}
	in.start(t)
	return in
}

// start runs the binary on the instance's configuration (again, after a kill) and waits until
// its liveness answers 200.
func (in *instance) start(t *testing.T) {
	t.Helper()
	in.cmd = exec.Command(binary, "--config", in.config)
	in.cmd.Env = append(os.Environ(), "LOG_LEVEL=warn")
	in.stderr = &bytes.Buffer{}
	in.cmd.Stderr = in.stderr
	in.done = make(chan struct{})
	require.NoError(t, in.cmd.Start())
	cmd, done := in.cmd, in.done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	in.waitLive(t)
}

func (in *instance) waitLive(t *testing.T) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/.backstage/health/v1/liveness", in.port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-in.done:
			t.Fatalf("the instance on port %d exited at start: %s", in.port, in.stderr)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("liveness did not answer 200 at %s; stderr: %s", url, in.stderr)
}

// kill sends sig and waits until the process has ended.
func (in *instance) kill(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, in.cmd.Process.Signal(sig))
	select {
	case <-in.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the instance on port %d did not end within 60s of %s; stderr: %s", in.port, sig, in.stderr)
	}
}

// stop ends the instance with SIGTERM and requires a clean exit.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	in.kill(t, syscall.SIGTERM)
	require.Equal(t, 0, in.cmd.ProcessState.ExitCode(), "instance on port %d: %s", in.port, in.stderr)
}

// metric returns the value of the unlabelled sample name on the instance's /metrics.
func (in *instance) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", in.port))
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no %s on /metrics", name)
	return 0
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// randomHex returns n random bytes in hex, for names no other run uses.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// load sends signed GitHub pushes from its workers, each paced at every, to the instances that
// are up until stop is closed, and remembers which deliveries were answered 202.
type load struct {
	prefix string // of every delivery id: the scenario's name
	every  time.Duration
	ports  []int
	up     []atomic.Bool // whether instance i is up: workers send only to those (while any is)
	next   atomic.Int64
	// outage is set while a fault is in effect: the 202s answered meanwhile are counted apart.
	outage atomic.Bool

	mu       sync.Mutex
	acked    map[string]bool // the deliveries answered 202
	sent     int
	statuses map[int]int // answers by status code; 0 is no answer (the server was down)
	// ackedInOutage and refusedInOutage count the 202s and the 503s answered while outage was set.
	ackedInOutage, refusedInOutage int
}

func newLoad(prefix string, every time.Duration, ports []int) *load {
	l := &load{prefix: prefix, every: every, ports: ports, up: make([]atomic.Bool, len(ports)), acked: map[string]bool{}, statuses: map[int]int{}}
	for i := range l.up {
		l.up[i].Store(true)
	}
	return l
}

// target is the port worker w sends to: its own instance when that is up, another one that is
// up otherwise.
func (l *load) target(w int) int {
	own := w % len(l.ports)
	for i := range l.ports {
		if n := (own + i) % len(l.ports); l.up[n].Load() {
			return l.ports[n]
		}
	}
	return l.ports[own]
}

// run sends until stop is closed and returns once every worker has had its last answer.
func (l *load) run(stop <-chan struct{}) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			next := time.Now()
			for {
				next = next.Add(l.every)
				select {
				case <-stop:
					return
				case <-time.After(time.Until(next)):
				}
				id := fmt.Sprintf("%s-%07d-w%d", l.prefix, l.next.Add(1), w)
				body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":"%s","repository":{"full_name":"acme/repo-%d"}}`, id, w)
				status, err := webhooktest.SendGitHub(l.target(w), secret, "push", id, body)
				inOutage := l.outage.Load()
				l.mu.Lock()
				l.sent++
				l.statuses[status]++
				if status == http.StatusAccepted {
					l.acked[id] = true
				}
				if inOutage && status == http.StatusAccepted {
					l.ackedInOutage++
				}
				if inOutage && status == http.StatusServiceUnavailable {
					l.refusedInOutage++
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the server is down; a sender backs off
					next = time.Now()
				}
			}
		})
	}
	wg.Wait()
}

// ackedIDs returns the deliveries answered 202 so far.
func (l *load) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.acked))
	for id := range l.acked {
		ids = append(ids, id)
	}
	return ids
}

// recorded reads the recorder's table of the github topic, by event id: when each event was
// first handled and how many times it was delivered and recorded.
func recorded(t *testing.T, cfg database.Config) map[string]recorder.Recorded {
	t.Helper()
	db, err := database.Open(cfg, nil, zerolog.Nop())
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := recorder.New(db, 0).List(ctx, "github")
	require.NoError(t, err)
	out := make(map[string]recorder.Recorded, len(rows))
	for _, r := range rows {
		out[r.EventID] = r
	}
	return out
}

// deadLetters counts the rows of the dead-letter store in the binary's database.
func deadLetters(t *testing.T, cfg database.Config) int {
	t.Helper()
	db, err := database.Open(cfg, nil, zerolog.Nop())
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM event_dead_letters`).Scan(&n))
	return n
}

// waitHandled waits until the recorder has handled each of ids — as long as it makes progress:
// at most stallLimit without one more of them handled, and at most drainLimit in all — and
// returns when that happened (or when it gave up), the recorded deliveries and how many of ids
// were not handled.
func waitHandled(t *testing.T, cfg database.Config, ids []string) (at time.Time, rec map[string]recorder.Recorded, lost int) {
	t.Helper()
	deadline := time.Now().Add(drainLimit)
	progress, last := time.Now(), len(ids)+1
	for {
		rec = recorded(t, cfg)
		at, lost = time.Now(), 0
		for _, id := range ids {
			if _, ok := rec[id]; !ok {
				lost++
			}
		}
		if lost < last {
			progress, last = at, lost
		}
		if lost == 0 || at.After(deadline) || at.Sub(progress) > stallLimit {
			return at, rec, lost
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// result is a scenario's report line.
type result struct {
	name                                          string
	sent, acknowledged, handled, lost, duplicated int
	recovery                                      time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("scenario=%s sent=%d acknowledged=%d handled=%d lost=%d duplicated=%d recovery_s=%.1f",
		r.name, r.sent, r.acknowledged, r.handled, r.lost, r.duplicated, r.recovery.Seconds())
}
