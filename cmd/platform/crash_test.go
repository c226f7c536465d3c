package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
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
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/subscribers/recorder"
)

// crashSecret is the webhook secret of the crash test's configuration.
const crashSecret = "crash-test-webhook-secret-0123456789"

// crashLeaseTimeout is events.sql.leaseTimeout in the crash test: how long the partitions of
// a killed instance stay leased before the survivor, or the restarted instance, takes them.
const crashLeaseTimeout = 2 * time.Second

// crashLoad sends signed pushes from several workers to the instances that are up until stop
// is closed, and remembers which deliveries were acknowledged and which got no answer.
type crashLoad struct {
	ports []int
	up    []atomic.Bool // whether instance i is up: workers send only to those (while any is)
	next  atomic.Int64

	mu sync.Mutex
	// acked are the deliveries answered 202, and the redeliveries answered 202 or 200
	// duplicate: each is on the bus and must be handled.
	acked      map[string]bool
	unanswered []string // no answer (the server was being killed, or was down), in order
	sent       int
	other      int // answered, but not 202
}

func newCrashLoad(ports []int) *crashLoad {
	l := &crashLoad{ports: ports, up: make([]atomic.Bool, len(ports)), acked: map[string]bool{}}
	for i := range l.up {
		l.up[i].Store(true)
	}
	return l
}

// target is the port worker w sends to: its own instance when that is up, another one that is
// up otherwise.
func (l *crashLoad) target(w int) int {
	own := w % len(l.ports)
	for i := range l.ports {
		if n := (own + i) % len(l.ports); l.up[n].Load() {
			return l.ports[n]
		}
	}
	return l.ports[own]
}

// crashSendEvery paces each worker (one repository, one key): about 66 pushes a second, a
// little more than the recorder's 20 ms per event handles (50 a second per key). A backlog
// builds up, so that deliveries are acknowledged and not yet handled at each kill, but slowly
// enough that the survivor drains what was acknowledged before a kill within the test's
// bound. Unpaced, the workers sent three to four times what a key's handler takes on an idle
// machine, and the backlog ahead of the killed instance's deliveries outgrew any bound.
const crashSendEvery = 15 * time.Millisecond

func (l *crashLoad) run(stop <-chan struct{}, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			next := time.Now()
			for {
				next = next.Add(crashSendEvery)
				select {
				case <-stop:
					return
				case <-time.After(time.Until(next)):
				}
				id := fmt.Sprintf("crash-%06d-w%d", l.next.Add(1), w)
				status, err := webhooktest.SendGitHub(l.target(w), crashSecret, "push", id, crashBody(id))
				l.mu.Lock()
				l.sent++
				switch {
				case err != nil:
					l.unanswered = append(l.unanswered, id)
				case status == http.StatusAccepted:
					l.acked[id] = true
				default:
					l.other++
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

// crashBody is the push of delivery id: its repository, the event's key, is the one of the
// worker named at the end of id (-wN), so that a redelivery sends the same body.
func crashBody(id string) []byte {
	return fmt.Appendf(nil, `{"ref":"refs/heads/main","after":"%s","repository":{"full_name":"acme/repo-%s"}}`, id, crashWorker(id))
}

// crashWorker is the worker that sent delivery id.
func crashWorker(id string) string { return id[strings.LastIndex(id, "-w")+2:] }

// ackedIDs returns the deliveries acknowledged so far.
func (l *crashLoad) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.acked))
	for id := range l.acked {
		ids = append(ids, id)
	}
	return ids
}

// crashDatabase returns the backend.database section of the crash test's configuration and
// the Config that reads the same database.
type crashDatabase func(t *testing.T) (yaml string, cfg database.Config)

func crashSQLite(t *testing.T) (string, database.Config) {
	path := filepath.Join(t.TempDir(), "stagebus.db")
	return "    connection: " + path + "\n", database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: path}}
}

// crashPostgres is a fresh schema on the test PostgreSQL; see databasetest.PostgresConfig for
// when it skips.
func crashPostgres(t *testing.T) (string, database.Config) {
	cfg := databasetest.PostgresConfig(t)
	return fmt.Sprintf("    client: pg\n    connection: %q\n", cfg.Connection.DSN), cfg
}

// TestAcknowledgedWebhooksSurviveKills is the promise behind a 202 on the SQL bus, on SQLite
// and on PostgreSQL: the real binary takes signed pushes from 8 workers while a slow
// subscriber (the recorder, 20 ms per event) falls behind; an instance is killed with SIGKILL
// twice under load and restarted on the same database; once the backlog drains, every
// acknowledged delivery has been handled — at least once: the deliveries beyond the first
// are counted as duplicates.
//
// With two instances on one PostgreSQL database, the load is spread over both and the
// recorder's subscription is one consumer group over both. While one is down the survivor
// takes the load and, after events.sql.leaseTimeout, the killed instance's partitions: it
// handles every delivery acknowledged before the kill while the killed one is still down.
//
// After the first kill, deliveries that were acknowledged but not handled yet are sent again,
// as GitHub's manual redelivery would: each is on the bus and answers 200 duplicate. Deliveries
// that got no answer because of the kill are sent again too: each is accepted (202) or, only
// because it truly is on the bus, answered 200 duplicate; either way it must be handled.
func TestAcknowledgedWebhooksSurviveKills(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		instances int
		database  crashDatabase
	}{
		{"sqlite", 1, crashSQLite},
		{"postgres", 1, crashPostgres},
		{"postgres two instances", 2, crashPostgres},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbYAML, dbCfg := tt.database(t)
			ports := make([]int, tt.instances)
			cfgs := make([]string, tt.instances)
			procs := make([]*process, tt.instances)
			for i := range ports {
				ports[i] = freePort(t)
				cfgs[i] = writeConfig(t, fmt.Sprintf(`backend:
  listen:
    port: %d
  database:
%sevents:
  bus: sql
  sql:
    leaseTimeout: %s
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: %s
  recorder:
    topics: [github]
    handlerDelay: 20ms
`, ports[i], dbYAML, crashLeaseTimeout, crashSecret))
				procs[i] = start(t, "--config", cfgs[i])
			}
			for _, port := range ports {
				waitLive(t, port)
			}

			load := newCrashLoad(ports)
			stop := make(chan struct{})
			loadDone := make(chan struct{})
			var redelivered []string
			go func() { load.run(stop, 8); close(loadDone) }()
			defer func() {
				select {
				case <-loadDone:
				default:
					close(stop)
					<-loadDone
				}
			}()
			for kill := 1; kill <= 2; kill++ {
				time.Sleep(1500 * time.Millisecond)
				victim := kill % tt.instances
				require.NoError(t, procs[victim].cmd.Process.Signal(syscall.SIGKILL))
				<-procs[victim].done
				load.up[victim].Store(false)
				if survivor := (victim + 1) % tt.instances; survivor != victim {
					killed, before := time.Now(), load.ackedIDs()
					_, pending := waitHandled(t, dbCfg, before, 0)
					if kill == 1 {
						redelivered = redeliverUnhandled(t, ports[survivor], dbCfg, load)
					}
					// The survivor carries on: it takes the load and, once the killed instance's
					// leases expire, its partitions, and handles what was left there. The
					// deliveries acknowledged before the kill come first on each partition; the
					// ones acknowledged since drain once the load stops (a key's events are
					// handled one at a time, about as fast as its worker sends them).
					recorded, lost := waitHandled(t, dbCfg, before, 30*time.Second)
					require.Zero(t, lost, "the survivor handles every delivery acknowledged before instance %d was killed; not handled, by key: %v", victim, lostByKey(before, recorded))
					t.Logf("instance %d killed: the survivor handled the %d deliveries acknowledged before the kill (%d of them not handled at the kill) within %s",
						victim, len(before), pending, time.Since(killed).Round(100*time.Millisecond))
				}
				procs[victim] = start(t, "--config", cfgs[victim])
				waitLive(t, ports[victim])
				load.up[victim].Store(true)
				if kill == 1 && tt.instances == 1 {
					redelivered = redeliverUnhandled(t, ports[victim], dbCfg, load)
				}
			}
			time.Sleep(time.Second)
			close(stop)
			<-loadDone

			// The backlog drains: every acknowledged delivery is recorded (a bounded wait).
			acked := load.ackedIDs()
			recorded, lost := waitHandled(t, dbCfg, acked, 2*time.Minute)
			for i, p := range procs {
				require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
				require.Equal(t, 0, p.wait(t, 30*time.Second), "instance %d: %s", i, p.stderr)
			}
			duplicates, twice := 0, 0
			for _, id := range acked {
				if n := recorded[id]; n > 1 {
					duplicates += n - 1
					twice++
				}
			}
			t.Logf("instances=%d sent=%d acknowledged=%d handled=%d lost=%d redelivered=%d duplicates=%d (no answer while killed: %d; other answers: %d; events delivered more than once: %d)",
				tt.instances, load.sent, len(acked), len(acked)-lost, lost, len(redelivered), duplicates, len(load.unanswered), load.other, twice)
			require.NotZero(t, len(acked), "nothing was acknowledged")
			require.Zero(t, lost, "acknowledged deliveries were never handled; by key: %v", lostByKey(acked, recorded))
		})
	}
}

// redeliverUnhandled sends to port again, as GitHub's manual redelivery would, up to five
// acknowledged deliveries the recorder has not handled yet and up to five that got no answer,
// and returns them. An acknowledged delivery is on the bus: its redelivery must answer 200
// duplicate. One that got no answer must be accepted (202) or be a duplicate because it is on
// the bus (200); either way it joins the acknowledged deliveries, which must all be handled.
func redeliverUnhandled(t *testing.T, port int, dbCfg database.Config, load *crashLoad) []string {
	t.Helper()
	recorded := recordedDeliveries(t, dbCfg)
	load.mu.Lock()
	var pending, unanswered []string
	for id := range load.acked {
		if recorded[id] == 0 && len(pending) < 5 {
			pending = append(pending, id)
		}
	}
	unanswered = append(unanswered, load.unanswered[:min(len(load.unanswered), 5)]...)
	load.mu.Unlock()
	resend := func(id string) int {
		status, err := webhooktest.SendGitHub(port, crashSecret, "push", id, crashBody(id))
		require.NoError(t, err)
		return status
	}
	for _, id := range pending {
		require.Equal(t, http.StatusOK, resend(id), "redelivery of %s, acknowledged and not handled yet", id)
	}
	for _, id := range unanswered {
		require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, resend(id), "redelivery of %s, which got no answer", id)
	}
	load.mu.Lock()
	for _, id := range unanswered {
		load.acked[id] = true
	}
	load.mu.Unlock()
	return append(pending, unanswered...)
}

// waitHandled waits, up to limit, until the recorder has handled each of ids, and returns the
// recorded deliveries per event and how many of ids were not handled.
func waitHandled(t *testing.T, dbCfg database.Config, ids []string, limit time.Duration) (recorded map[string]int, lost int) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		recorded = recordedDeliveries(t, dbCfg)
		lost = 0
		for _, id := range ids {
			if recorded[id] == 0 {
				lost++
			}
		}
		if lost == 0 || time.Now().After(deadline) {
			return recorded, lost
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// recordedDeliveries reads the recorder's table of the github topic from the binary's
// database: how many times each event was delivered and recorded.
func recordedDeliveries(t *testing.T, cfg database.Config) map[string]int {
	t.Helper()
	db, err := database.Open(cfg, nil, zerolog.Nop())
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := recorder.New(db, 0).List(ctx, "github")
	require.NoError(t, err)
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.EventID] = r.Deliveries
	}
	return out
}

// lostByKey counts the events of ids that recorded does not hold, by the worker (the key) that
// sent them.
func lostByKey(ids []string, recorded map[string]int) map[string]int {
	out := map[string]int{}
	for _, id := range ids {
		if recorded[id] == 0 {
			out["acme/repo-"+crashWorker(id)]++
		}
	}
	return out
}
