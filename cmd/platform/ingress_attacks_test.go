package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/webhooktest"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/internal/testenv"
)

// attackSecret is the webhook secret of the attack tests' configurations.
const attackSecret = "attack-tests-webhook-secret-0123456789"

// postGitHub sends a signed GitHub webhook to the binary at port and returns the status.
func postGitHub(t *testing.T, port int, event, delivery string, body []byte) int {
	t.Helper()
	status, err := webhooktest.SendGitHub(port, attackSecret, event, delivery, body)
	require.NoError(t, err)
	return status
}

// metricLines returns the lines of the binary's /metrics that start with prefix.
func metricLines(t *testing.T, port int, prefix string) []string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// startLogged is start that also keeps the log lines (standard output); read them once the
// process has ended.
func startLogged(t *testing.T, args ...string) (*process, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "LOG_LEVEL=warn")
	p := &process{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	logs := &bytes.Buffer{}
	cmd.Stderr, cmd.Stdout = p.stderr, logs
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p, logs
}

func stopBinary(t *testing.T, p *process) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t, 30*time.Second), p.stderr.String())
}

// brokerTopics lists the topics on the broker.
func brokerTopics(t *testing.T, broker string) map[string]bool {
	t.Helper()
	conn, err := kafkago.Dial("tcp", broker)
	require.NoError(t, err)
	defer conn.Close()
	parts, err := conn.ReadPartitions()
	require.NoError(t, err)
	topics := map[string]bool{}
	for _, p := range parts {
		topics[p.Topic] = true
	}
	return topics
}

// TestUnsignedEventNamesCreateNoTopics: on Kafka, one signed GitHub body replayed with 20
// invented X-GitHub-Event names is accepted on the github topic but creates no topic and no
// metric series per name, and is counted in stagebus_ingress_unknown_event_names_total; a
// documented name (push) gets its sub-topic.
func TestUnsignedEventNamesCreateNoTopics(t *testing.T) {
	t.Parallel()
	brokers := os.Getenv("PLATFORM_TEST_KAFKA_BROKERS")
	if brokers == "" {
		testenv.Missing(t, "PLATFORM_TEST_KAFKA_BROKERS is not set: run the tests with make test, or start Kafka with scripts/services up")
	}
	broker := strings.Split(brokers, ",")[0]
	prefix := "attack-" + randomHex(t, 4) + "."
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`backend:
  listen:
    port: %d
  database:
    connection: %s
events:
  bus: kafka
  kafka:
    brokers: [%s]
    topicPrefix: %s
    groupPrefix: %s
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: %s
`, port, filepath.Join(t.TempDir(), "db.sqlite"), brokers, prefix, prefix, attackSecret))
	p := start(t, "--config", cfg)
	waitLive(t, port)
	defer stopBinary(t, p)

	// The ingress publishes a webhook's sub-topic event with it before answering 202: once
	// github.push, published last, is listed, so is every topic the invented names could have
	// made.
	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"acme/attacked"}}`)
	for i := range 20 {
		require.Equal(t, http.StatusAccepted, postGitHub(t, port, fmt.Sprintf("evil%03d", i), fmt.Sprintf("evil-%d-%s", i, prefix), body))
	}
	require.Equal(t, http.StatusAccepted, postGitHub(t, port, "push", "push-"+prefix, body))

	var topics map[string]bool
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if topics = brokerTopics(t, broker); topics[prefix+"github.push"] {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	require.True(t, topics[prefix+"github.push"], "the documented name gets its sub-topic; stderr: %s", p.stderr)
	require.True(t, topics[prefix+"github"])
	for topic := range topics {
		require.False(t, strings.HasPrefix(topic, prefix+"github.evil"), "topic %s was created from an unsigned header", topic)
	}
	var subTopics []string
	for topic := range topics {
		if strings.HasPrefix(topic, prefix+"github.") {
			subTopics = append(subTopics, topic)
		}
	}
	require.Equal(t, []string{prefix + "github.push"}, subTopics)

	require.Equal(t, []string{`stagebus_ingress_unknown_event_names_total{topic="github"} 20`},
		metricLines(t, port, "stagebus_ingress_unknown_event_names_total{"))
	for _, line := range metricLines(t, port, "stagebus_") {
		require.NotContains(t, line, "evil", "a metric series per invented name")
	}
}

// TestPoisonedDeliveryIDs: on PostgreSQL, legitimate signed webhooks sent concurrently with
// poisoned delivery ids (invalid UTF-8, 500 KB, a control character) are all accepted, every
// poisoned one is answered 400, and no delivery is left pending.
func TestPoisonedDeliveryIDs(t *testing.T) {
	t.Parallel()
	db := databasetest.PostgresConfig(t)
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`backend:
  listen:
    port: %d
  database:
    client: pg
    connection: '%s'
events:
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: %s
`, port, db.Connection.DSN, attackSecret))
	p := start(t, "--config", cfg)
	waitLive(t, port)
	defer stopBinary(t, p)

	type delivery struct {
		id       string
		poisoned bool
	}
	var deliveries []delivery
	for i := range 300 {
		deliveries = append(deliveries, delivery{id: fmt.Sprintf("legit-%03d", i)})
		switch i % 5 {
		case 0:
			deliveries = append(deliveries, delivery{id: fmt.Sprintf("bad-utf8-%d-\xff\xfe", i), poisoned: true})
		case 1:
			deliveries = append(deliveries, delivery{id: fmt.Sprintf("big-%d-", i) + strings.Repeat("x", 500<<10), poisoned: true})
		case 2:
			deliveries = append(deliveries, delivery{id: fmt.Sprintf("ctl-%d-a\tb", i), poisoned: true})
		}
	}
	work := make(chan delivery)
	var mu sync.Mutex
	wrong := map[string]int{}
	var wg sync.WaitGroup
	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"acme/api"}}`)
	for range 16 {
		wg.Go(func() {
			for d := range work {
				want := http.StatusAccepted
				if d.poisoned {
					want = http.StatusBadRequest
				}
				if got := postGitHub(t, port, "push", d.id, body); got != want {
					kind, _, _ := strings.Cut(d.id, "-")
					mu.Lock()
					wrong[fmt.Sprintf("%s deliveries answered %d instead of %d", kind, got, want)]++
					mu.Unlock()
				}
			}
		})
	}
	for _, d := range deliveries {
		work <- d
	}
	close(work)
	wg.Wait()
	require.Empty(t, wrong)

	conn, err := sql.Open("pgx", db.Connection.DSN)
	require.NoError(t, err)
	defer conn.Close()
	states := func() map[string]int {
		rows, err := conn.Query(`SELECT state, count(*) FROM ingress_deliveries GROUP BY state`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var state string
			var n int
			require.NoError(t, rows.Scan(&state, &n))
			out[state] = n
		}
		require.NoError(t, rows.Err())
		return out
	}
	// Confirmations are written after the 202, in the background: wait for them, bounded.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && states()["pending"] > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, map[string]int{"published": 300}, states(), "every acknowledged delivery is confirmed, nothing else is recorded")
}

// TestShortWebhookSecret: production refuses a webhook secret shorter than 16 characters
// with one line naming the key; development starts and warns without showing the secret.
func TestShortWebhookSecret(t *testing.T) {
	t.Parallel()
	const short = "tiny-secret"
	config := func(port int, env string) string {
		return writeConfig(t, fmt.Sprintf("backend:\n  listen:\n    port: %d\n  database:\n    connection: %s\nauth:\n  environment: %s\nevents:\n  http:\n    topics: [github]\n  modules:\n    github:\n      webhookSecret: %s\n",
			port, filepath.Join(t.TempDir(), "db.sqlite"), env, short))
	}
	t.Run("production refuses", func(t *testing.T) {
		t.Parallel()
		p := start(t, "--config", config(freePort(t), "production"))
		require.NotEqual(t, 0, p.wait(t, 15*time.Second))
		out := strings.TrimRight(p.stderr.String(), "\n")
		require.NotContains(t, out, "\n", "one line expected, got:\n%s", out)
		require.Contains(t, out, "platform: invalid configuration: events.modules.github.webhookSecret: a webhook secret must have at least 16 characters in production")
		require.NotContains(t, out, short)
	})
	t.Run("development warns", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		p, logs := startLogged(t, "--config", config(port, "development"))
		waitLive(t, port)
		stopBinary(t, p)
		require.Contains(t, logs.String(), "webhook secret is shorter than the minimum")
		require.Contains(t, logs.String(), "events.modules.github.webhookSecret")
		require.NotContains(t, logs.String(), short)
		require.NotContains(t, p.stderr.String(), short)
	})
}
