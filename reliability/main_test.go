//go:build reliability

package reliability

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebus/stagebus/database/databasetest"
)

var (
	// long selects the long versions of the scenarios (make reliability): longer load and
	// longer outages. The short ones (make reliability-short, CI) fit in a few minutes.
	long = flag.Bool("reliability.long", false, "run the long versions of the scenarios")
	// outbox sets events.kafka.outbox in the Kafka scenarios: true is the outbox path, false
	// today's direct path (publish to the broker before answering 202).
	outbox = flag.Bool("reliability.outbox", true, "events.kafka.outbox in the Kafka scenarios")
	// soakFor is how long TestSoak runs (make reliability-soak).
	soakFor = flag.Duration("reliability.soak", 10*time.Minute, "duration of TestSoak")
	// race builds the binary with the race detector (the scenarios); the soak turns it off,
	// because the detector's own memory grows with the work done and would hide whether
	// Stagebus's levels off.
	race = flag.Bool("reliability.race", true, "build the platform binary with -race")
)

// binary is the platform command, built once (with -race unless -reliability.race=false).
var binary string

// svc are the private Kafka and PostgreSQL of this run.
var svc *services

// TestMain builds the binary and starts a Kafka and a PostgreSQL of the run's own (in a
// private scripts/services state directory, so that the shared servers other tests use are
// never stopped), runs the tests, and stops both.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "stagebus-reliability")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// PostgreSQL runs as the postgres user when we are root: it must reach its data directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binary = filepath.Join(dir, "platform")
	build := []string{"build", "-o", binary}
	if *race {
		build = append(build, "-race")
	}
	if out, err := exec.Command("go", append(build, "../cmd/platform")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build platform: %v\n%s", err, out)
		return 1
	}
	svc = &services{dir: filepath.Join(dir, "services")}
	defer func() {
		if err := svc.run("../scripts/services", "down"); err != nil {
			fmt.Fprintf(os.Stderr, "stop the private services: %v\n", err)
		}
	}()
	if err := svc.up(); err != nil {
		fmt.Fprintf(os.Stderr, "start a private Kafka and PostgreSQL: %v\n", err)
		return 1
	}
	// databasetest.PostgresConfig makes each scenario's schema on the private server.
	if err := os.Setenv(databasetest.PostgresURLEnv, svc.postgres); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// services are a Kafka broker and a PostgreSQL server that scripts/services runs for this test
// run alone, with their state in dir.
type services struct {
	dir      string
	kafka    string // the broker's address, host:port
	postgres string // PostgreSQL's URL
}

// up starts both servers and reads their addresses from the export lines.
func (s *services) up() error {
	out, err := s.output("../scripts/services", "up", "kafka", "postgres")
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok {
			continue
		}
		value = strings.Trim(value, "'")
		switch name {
		case "PLATFORM_TEST_KAFKA_BROKERS":
			s.kafka = value
		case databasetest.PostgresURLEnv:
			s.postgres = value
		}
	}
	if s.kafka == "" || s.postgres == "" {
		return fmt.Errorf("scripts/services up printed no Kafka or PostgreSQL address:\n%s", out)
	}
	return nil
}

// run runs a script of scripts/ on the private state directory; its output goes to stderr.
func (s *services) run(script string, args ...string) error {
	out, err := s.output(script, args...)
	os.Stderr.Write(out)
	return err
}

// output runs a script of scripts/ on the private state directory and returns its stdout.
// The variables that name shared servers are removed, so that the scripts start their own.
func (s *services) output(script string, args ...string) ([]byte, error) {
	cmd := exec.Command(script, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLATFORM_TEST_") && !strings.HasPrefix(kv, "STAGEBUS_SERVICES_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "STAGEBUS_SERVICES_DIR="+s.dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", script, strings.Join(args, " "), err)
	}
	return out, nil
}
