package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServeLogsWhyAndHowLongItStopped stops the real binary with each stop signal and checks
// the one info line that says so: the signal's name as the reason and the drain's duration.
func TestServeLogsWhyAndHowLongItStopped(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		name := map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[sig]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			// start() keeps only stderr and logs at warn; the log lines go to stdout at info.
			cmd := exec.Command(binary, "--config", serveConfig(t, port), "--log-format", "json")
			cmd.Env = append(os.Environ(), "LOG_LEVEL=info")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			waitLive(t, port)

			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Fatalf("the process did not exit within 15s; stderr: %s", stderr.String())
			}
			require.Equal(t, 0, cmd.ProcessState.ExitCode(), stderr.String())

			var stopped []map[string]any
			lines := bufio.NewScanner(&stdout)
			for lines.Scan() {
				var line map[string]any
				require.NoError(t, json.Unmarshal(lines.Bytes(), &line), "log line %q", lines.Text())
				if line["message"] == "stopped" {
					stopped = append(stopped, line)
				}
			}
			require.Len(t, stopped, 1, "one stop line expected in:\n%s", stdout.String())
			line := stopped[0]
			require.Equal(t, "info", line["level"])
			require.Equal(t, name, line["reason"])
			require.EqualValues(t, 0, line["exit_code"])
			drain, ok := line["duration"].(float64)
			require.True(t, ok, "duration must be a number of milliseconds, got %#v", line["duration"])
			require.GreaterOrEqual(t, drain, 0.0)
		})
	}
}
