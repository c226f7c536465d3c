package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSQLBus runs the binary with events.bus: sql on SQLite: a signed GitHub push webhook is
// stored on the github topic and, in the same transaction, on github.push; the recorder's
// subscription of github.push reads it from the database, and the process stops cleanly.
func TestSQLBus(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`backend:
  listen:
    port: %d
  database:
    connection: %s
events:
  bus: sql
  sql:
    pollInterval: 1m
  recorder:
    topics: [github.push]
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: %s
`, port, filepath.Join(t.TempDir(), "db.sqlite"), attackSecret))
	p := start(t, "--config", cfg)
	waitLive(t, port)
	defer stopBinary(t, p)

	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"acme/sql-bus"}}`)
	require.Equal(t, http.StatusAccepted, postGitHub(t, port, "push", "sql-bus-"+randomHex(t, 4), body))
	// The ingress answered once both events were committed.
	require.Equal(t, []string{
		`stagebus_events_sql_published_total{topic="github"} 1`,
		`stagebus_events_sql_published_total{topic="github.push"} 1`,
	}, metricLines(t, port, `stagebus_events_sql_published_total{topic="github`))
	want := []string{`stagebus_events_delivered_total{subscription="recorder",topic="github.push"} 1`}
	var got []string
	require.Eventually(t, func() bool {
		got = metricLines(t, port, `stagebus_events_delivered_total{subscription="recorder"`)
		return slices.Equal(want, got)
	}, 20*time.Second, 50*time.Millisecond, "the recorder handled github.push from the SQL bus: %v", &got)
}
