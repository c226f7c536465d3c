package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/subscribers/recorder"
)

// crashSecret is the webhook secret of the crash test's configuration.
const crashSecret = "crash-test-webhook-secret-0123456789"

// crashLoad sends signed pushes from several workers until stop is closed, and remembers
// which deliveries were acknowledged (202) and which were answered at all.
type crashLoad struct {
	port   atomic.Int64
	next   atomic.Int64
	mu     sync.Mutex
	acked  map[string]bool
	sent   int
	failed int // no answer: the server was being killed
}

func (l *crashLoad) run(stop <-chan struct{}, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("crash-%06d", l.next.Add(1))
				body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":"%s","repository":{"full_name":"acme/repo-%d"}}`, id, w)
				status, err := sendGitHub(int(l.port.Load()), crashSecret, "push", id, body)
				l.mu.Lock()
				l.sent++
				switch {
				case err != nil:
					l.failed++
				case status == http.StatusAccepted:
					l.acked[id] = true
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the server is restarting; a sender backs off
				}
			}
		})
	}
	wg.Wait()
}

// TestAcknowledgedWebhooksSurviveKills is the promise behind a 202 on the embedded default: the
// real binary on the SQL bus (SQLite) takes signed pushes while a slow subscriber (the
// recorder, 20 ms per event) falls behind; it is killed with SIGKILL twice under load and
// restarted on the same database; once the backlog drains, every acknowledged delivery has
// been handled. A redelivery, after a kill, of an event not yet handled is accepted or answered
// duplicate only because the event is still queued: it is handled too.
func TestAcknowledgedWebhooksSurviveKills(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "stagebus.db")
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`backend:
  listen:
    port: %d
  database:
    connection: %s
events:
  bus: sql
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: %s
  recorder:
    topics: [github]
    handlerDelay: 20ms
`, port, dbPath, crashSecret))

	load := &crashLoad{acked: map[string]bool{}}
	load.port.Store(int64(port))
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	var redelivered []string

	p := start(t, "--config", cfg)
	waitLive(t, port)
	go func() { load.run(stop, 8); close(loadDone) }()
	for kill := 1; kill <= 2; kill++ {
		time.Sleep(1500 * time.Millisecond)
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		<-p.done
		p = start(t, "--config", cfg)
		waitLive(t, port)
		if kill == 1 {
			redelivered = redeliverUnhandled(t, port, dbPath, load)
		}
	}
	time.Sleep(time.Second)
	close(stop)
	<-loadDone

	// The backlog drains: every acknowledged delivery is recorded (a bounded wait).
	var handled, lost int
	deadline := time.Now().Add(2 * time.Minute)
	for {
		recorded := recordedIDs(t, dbPath)
		handled, lost = 0, 0
		for id := range load.acked {
			if recorded[id] {
				handled++
			} else {
				lost++
			}
		}
		if lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t, 30*time.Second))

	t.Logf("sent=%d acknowledged=%d handled=%d lost=%d (no answer while killed: %d; redelivered after the first kill: %d)",
		load.sent, len(load.acked), handled, lost, load.failed, len(redelivered))
	require.NotZero(t, len(load.acked), "nothing was acknowledged")
	require.Zero(t, lost, "acknowledged deliveries were never handled")
}

// redeliverUnhandled sends again, as GitHub's manual redelivery would, up to five
// acknowledged deliveries the recorder has not handled yet, and returns them. Each must be
// accepted again (202) or be a duplicate because it is still queued (200); the caller's final
// check that every acknowledged delivery is handled covers both.
func redeliverUnhandled(t *testing.T, port int, dbPath string, load *crashLoad) []string {
	t.Helper()
	recorded := recordedIDs(t, dbPath)
	load.mu.Lock()
	var pending []string
	for id := range load.acked {
		if !recorded[id] && len(pending) < 5 {
			pending = append(pending, id)
		}
	}
	load.mu.Unlock()
	for _, id := range pending {
		body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":"%s","repository":{"full_name":"acme/redelivered"}}`, id)
		status, err := sendGitHub(port, crashSecret, "push", id, body)
		require.NoError(t, err)
		require.Contains(t, []int{http.StatusAccepted, http.StatusOK, http.StatusConflict}, status, "redelivery of %s", id)
	}
	return pending
}

// recordedIDs reads the recorder's table of the github topic from the binary's SQLite file.
func recordedIDs(t *testing.T, dbPath string) map[string]bool {
	t.Helper()
	db, err := database.Open(database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: dbPath}}, nil, zerolog.Nop())
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := recorder.New(db, 0).List(ctx, "github")
	require.NoError(t, err)
	out := make(map[string]bool, len(rows))
	for _, r := range rows {
		out[r.EventID] = true
	}
	return out
}
