// Package kafkatest starts a private real Apache Kafka broker for a test that must stop and
// restart it (an outage), through the repository's scripts/services with a state directory of
// the test's own, so that other tests sharing the main broker are not disturbed.
package kafkatest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagebus/stagebus/internal/testenv"
)

// Broker is a private single-node Kafka broker.
type Broker struct {
	t       testing.TB
	root    string
	env     []string
	Brokers []string
}

// repoRoot finds the directory holding go.mod, upwards from the working directory.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start starts a private broker (about five seconds once the jars are cached) and stops it when
// the test ends. It skips the test — fails it under PLATFORM_REQUIRE_REAL_SERVICES=1 — unless
// the real services run (PLATFORM_TEST_KAFKA_VERSION set by scripts/services) or are required.
func Start(t testing.TB) *Broker {
	t.Helper()
	if os.Getenv("PLATFORM_TEST_KAFKA_VERSION") == "" && !testenv.RequireRealServices() {
		t.Skip("a private Kafka broker needs the real services (make test)")
	}
	b := &Broker{t: t, root: repoRoot(t)}
	b.env = append(os.Environ(), "STAGEBUS_SERVICES_DIR="+t.TempDir(), "PLATFORM_TEST_KAFKA_BROKERS=")
	out := b.run("scripts/services", "up", "kafka")
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "export PLATFORM_TEST_KAFKA_BROKERS="); ok {
			b.Brokers = strings.Split(strings.Trim(v, "'"), ",")
		}
	}
	if len(b.Brokers) == 0 {
		t.Fatalf("the private broker printed no address:\n%s", out)
	}
	t.Cleanup(func() { b.run("scripts/services", "down", "kafka") })
	return b
}

func (b *Broker) run(script string, args ...string) string {
	b.t.Helper()
	cmd := exec.Command(filepath.Join(b.root, script), args...)
	cmd.Env = b.env
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		b.t.Fatalf("%s %v: %v\n%s%s", script, args, err, out, stderr)
	}
	return string(out)
}

// Pause stops the broker process, keeping its port and data.
func (b *Broker) Pause() { b.run("scripts/kafka/broker", "pause") }

// Resume starts it again and waits until it answers.
func (b *Broker) Resume() { b.run("scripts/kafka/broker", "resume") }
