package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/testenv"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
)

// Flood parameters: floodRequests refused requests from floodClients concurrent clients;
// the audit writer is configured with floodMaxBatch so that the flood overruns its batches
// and denials are aggregated, not only batched.
const (
	floodRequests = 10000
	floodClients  = 64
	floodMaxBatch = 16
)

// TestAuditSurvivesDenialFloodAndKill is the promise of the audit log under a denial flood:
// every request answered 401 is counted in the audit log — as a row of its own or in an
// aggregate row's meta.count — and that holds across a SIGKILL sent as soon as the last
// answer arrived, because a 401 is written only after its record's commit. It floods the
// real binary from 127.0.0.1, kills it, restarts it on the same database, and counts.
func TestAuditSurvivesDenialFloodAndKill(t *testing.T) {
	t.Parallel()
	dbs := map[string]func(t *testing.T) (yaml string, cfg database.Config){
		"sqlite": func(t *testing.T) (string, database.Config) {
			path := filepath.Join(t.TempDir(), "db.sqlite")
			return "    connection: " + path + "\n", database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: path}}
		},
		"postgres": func(t *testing.T) (string, database.Config) {
			cfg := databasetest.PostgresConfig(t)
			return fmt.Sprintf("    client: pg\n    connection: %q\n", cfg.Connection.DSN), cfg
		},
		// The production shape, where the flood was reported: Kafka and PostgreSQL.
		"kafka+postgres": func(t *testing.T) (string, database.Config) {
			brokers := os.Getenv("PLATFORM_TEST_KAFKA_BROKERS")
			if brokers == "" {
				testenv.Missing(t, "PLATFORM_TEST_KAFKA_BROKERS is not set: run the tests with make test, or start Kafka with scripts/services up")
			}
			cfg := databasetest.PostgresConfig(t)
			prefix := fmt.Sprintf("auditflood-%d.", time.Now().UnixNano())
			return fmt.Sprintf("    client: pg\n    connection: %q\nevents:\n  bus: kafka\n  kafka:\n    brokers: [%q]\n    topicPrefix: %s\n    groupPrefix: %s\n",
				cfg.Connection.DSN, brokers, prefix, prefix), cfg
		},
	}
	for name, open := range dbs {
		t.Run(name, func(t *testing.T) {
			dbYAML, dbCfg := open(t)
			port := freePort(t)
			cfg := writeConfig(t, fmt.Sprintf("backend:\n  listen:\n    port: %d\n  database:\n%sauth:\n  audit:\n    maxBatch: %d\n", port, dbYAML, floodMaxBatch))

			p := start(t, "--config", cfg)
			waitLive(t, port)
			began := time.Now()
			refused, other := flood(t, fmt.Sprintf("http://127.0.0.1:%d/api/catalog/entities", port), floodRequests, floodClients)
			took := time.Since(began)
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
			<-p.done
			require.Zero(t, other, "every request of the flood is refused with 401")
			require.EqualValues(t, floodRequests, refused)

			// The restarted server opens the same database; the log must hold every refusal.
			p = start(t, "--config", cfg)
			waitLive(t, port)
			t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGTERM); p.wait(t, 20*time.Second) })
			records, aggregates, counted := countDenials(t, dbCfg)
			t.Logf("%s: %d requests refused in %s; audit log: %d records, %d aggregate rows counting %d more (total %d)",
				name, refused, took.Round(time.Millisecond), records, aggregates, counted, records+counted)
			require.EqualValues(t, refused, records+counted, "every 401 is in the audit log, as a record or in an aggregate's count")

			code, stdout, stderr := runCLI(t, nil, "audit", "verify", "--config", cfg)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, "audit log OK")
		})
	}
}

// flood sends n unauthenticated GETs to url from clients goroutines and returns how many
// were answered 401 and how many otherwise (or failed). It gives up after two minutes.
func flood(t *testing.T, url string, n, clients int) (refused, other int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					atomic.AddInt64(&other, 1)
					continue
				}
				resp, err := client.Do(req)
				if err != nil {
					atomic.AddInt64(&other, 1)
					continue
				}
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					atomic.AddInt64(&refused, 1)
				} else {
					atomic.AddInt64(&other, 1)
				}
			}
		})
	}
	wg.Wait()
	return refused, other
}

// countDenials reads the audit log's authenticate failures: rows that are one record each,
// aggregate rows, and the records the aggregates count.
func countDenials(t *testing.T, cfg database.Config) (records, aggregates, counted int64) {
	t.Helper()
	db, err := database.Open(cfg, nil, zerolog.Nop())
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	require.NoError(t, db.Start(ctx))
	rows, err := db.QueryContext(ctx, `SELECT record FROM audit_log WHERE event_id = 'authenticate' AND status = 'failed'`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var raw string
		require.NoError(t, rows.Scan(&raw))
		var rec struct {
			Meta struct {
				Aggregate bool  `json:"aggregate"`
				Count     int64 `json:"count"`
			} `json:"meta"`
		}
		require.NoError(t, json.Unmarshal([]byte(raw), &rec))
		if rec.Meta.Aggregate {
			aggregates++
			counted += rec.Meta.Count
		} else {
			records++
		}
	}
	require.NoError(t, rows.Err())
	return records, aggregates, counted
}
