//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readmeBlock is one ```sh block of README.md and the mode its `<!-- test: MODE -->` marker
// says it is written for:
//   - quick-start: `go run ./cmd/platform` and `make test` (TestReadmeDevelopment runs the
//     first as written; CI is the second);
//   - development: run in order, in one shell, against that development instance;
//   - full-stack: run against the production configuration by TestFullStack;
//   - none (reason): cannot run on a test machine, with the reason and what checks it instead.
type readmeBlock struct {
	mode, reason, script string
}

var readmeBlockPattern = regexp.MustCompile("(?s)(?:<!-- test: ([a-z-]+)(?: \\((.*?)\\))? -->\n)?```sh\n(.*?)```")

// readmeBlocks returns every shell block of README.md with its mode.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	require.NoError(t, err)
	var out []readmeBlock
	for _, m := range readmeBlockPattern.FindAllStringSubmatch(string(readme), -1) {
		out = append(out, readmeBlock{mode: m[1], reason: m[2], script: m[3]})
	}
	return out
}

// readmeScripts returns the scripts of the blocks written for mode, in README order, with
// localhost:7007 pointed at port.
func readmeScripts(t *testing.T, mode string, port int) []string {
	t.Helper()
	var out []string
	for _, b := range readmeBlocks(t) {
		if b.mode == mode {
			out = append(out, strings.ReplaceAll(b.script, "localhost:7007", fmt.Sprintf("127.0.0.1:%d", port)))
		}
	}
	require.NotEmpty(t, out, "README.md has no shell block marked <!-- test: %s -->", mode)
	return out
}

// TestReadmeBlocksAreTested keeps every shell block of the README under a test: each says the
// mode it is written for, and a block that no test can run here says why.
func TestReadmeBlocksAreTested(t *testing.T) {
	blocks := readmeBlocks(t)
	require.NotEmpty(t, blocks)
	for i, b := range blocks {
		switch b.mode {
		case "quick-start", "development", "full-stack":
		case "none":
			require.NotEmpty(t, b.reason, "README shell block %d is marked none without a reason:\n%s", i+1, b.script)
		default:
			require.Failf(t, "a README shell block has no test marker",
				"block %d has mode %q; precede it with <!-- test: development|full-stack|quick-start|none (why) -->:\n%s", i+1, b.mode, b.script)
		}
	}
	ci, err := os.ReadFile(filepath.Join(repoRoot, ".ci", "run"))
	require.NoError(t, err)
	require.Contains(t, string(ci), "make test", "CI must run the README's test command")
}

// quickStart returns the two commands of the quick-start block.
func quickStart(t *testing.T) (run, test string) {
	t.Helper()
	scripts := readmeScripts(t, "quick-start", 7007)
	require.Len(t, scripts, 1)
	var cmds []string
	for _, line := range strings.Split(strings.TrimSpace(scripts[0]), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		cmds = append(cmds, strings.TrimSpace(cmd))
	}
	require.Len(t, cmds, 2, "the quick start is two commands")
	return cmds[0], cmds[1]
}

// developmentChecks says what each development block must print: every block needs one, so a
// new block cannot go untested. Keys are a part of the block's script.
var developmentChecks = []struct {
	in   string
	want []string
}{
	{"/api/auth/v1/userinfo", []string{`"sub":"user:development/guest"`}},
	{"/by-name/component/default/example-website", []string{`"name":"example-website"`, `"targetRef":"system:default/examples"`}},
	{"/api/events/http/github", []string{" 202\n"}},
	{"/api/audit/events", []string{"401\n", `"eventId":"authenticate"`, `"status":"failed"`}},
}

// TestReadmeDevelopment runs the quick start's `go run ./cmd/platform` as written, from the
// repository root on the embedded defaults (only the port and the SQLite file are moved, so that
// the test neither collides with a running instance nor writes into the checkout), then every
// development block of the README against it, in order, in one shell.
func TestReadmeDevelopment(t *testing.T) {
	run, _ := quickStart(t)
	require.Equal(t, "go run ./cmd/platform", run)
	for _, tool := range []string{"bash", "curl", "openssl", "sed", "python3"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the README's commands need %s (make e2e installs it)", tool)
	}
	port := freePort(t)
	args := strings.Fields(run)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = repoRoot
	cmd.Env = append(withoutAppConfig(os.Environ()),
		fmt.Sprintf("APP_CONFIG_backend_listen_port=%d", port),
		"APP_CONFIG_backend_database_connection="+filepath.Join(t.TempDir(), "stagebus.db"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // go run's child is in the group too
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("log of go run ./cmd/platform:\n%s", log.String())
		}
	})

	live := fmt.Sprintf("http://127.0.0.1:%d/.backstage/health/v1/liveness", port)
	deadline := time.Now().Add(3 * time.Minute) // go run compiles first
	for {
		resp, err := http.Get(live)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "liveness did not answer within 3 minutes")
		time.Sleep(250 * time.Millisecond)
	}

	scripts := readmeScripts(t, "development", port)
	var script strings.Builder
	for i, s := range scripts {
		fmt.Fprintf(&script, "echo '@@block %d'\n%s\n", i, s)
	}
	// The audit log is written from the bus, so a refusal shows up moments after its 401: the
	// blocks (which may all run again: each webhook has a new delivery id) are retried until
	// every expectation holds, as a person would look again.
	var problems []string
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		sh := exec.Command("bash", "-euo", "pipefail", "-c", script.String())
		sh.Env = withoutAppConfig(os.Environ())
		out, err := sh.CombinedOutput()
		require.NoError(t, err, "the README's development commands failed:\n%s", out)
		outputs := regexp.MustCompile(`(?m)^@@block \d+\n`).Split(string(out), -1)[1:]
		require.Len(t, outputs, len(scripts))
		problems = developmentProblems(scripts, outputs)
		if len(problems) == 0 {
			break
		}
	}
	require.Empty(t, problems)

	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)) // Ctrl-C, as the README says
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("go run ./cmd/platform did not stop within 30s of Ctrl-C")
	}
}

// developmentProblems returns what the development blocks' outputs lack of developmentChecks.
func developmentProblems(scripts, outputs []string) []string {
	var problems []string
	for i, s := range scripts {
		checked := false
		for _, c := range developmentChecks {
			if !strings.Contains(s, c.in) {
				continue
			}
			checked = true
			for _, w := range c.want {
				if !strings.Contains(outputs[i], w) {
					problems = append(problems, fmt.Sprintf("block %d printed no %q:\n%s\noutput:\n%s", i+1, w, s, outputs[i]))
				}
			}
		}
		if !checked {
			problems = append(problems, fmt.Sprintf("block %d has no expectation in developmentChecks:\n%s", i+1, s))
		}
	}
	return problems
}
