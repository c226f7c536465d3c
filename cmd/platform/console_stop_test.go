package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStopEndsLiveStreams: a console tab's live stream does not hold up a stop. The server
// ends it at once (the browser reconnects elsewhere), so the process stops well within the
// stop timeout (20 s) it would otherwise wait out.
func TestStopEndsLiveStreams(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := writeConfig(t, fmt.Sprintf(`backend:
  baseUrl: %s
  listen: {port: %d}
  database: {connection: %s}
events:
  bus: sql
auth:
  environment: development
  admins: [user:development/guest]
`, base, port, filepath.Join(t.TempDir(), "db.sqlite")))
	cmd := exec.Command(binary, "--config", cfg, "--log-format", "json")
	cmd.Env = append(os.Environ(), "LOG_LEVEL=info")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitLive(t, port)

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar}
	r, err := http.NewRequest(http.MethodPost, base+"/signin/guest", strings.NewReader(url.Values{"next": {"/"}}.Encode()))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", base)
	resp, err := client.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "signed in and redirected to the overview")

	resp, err = client.Get(base + "/live?ch=events:,overview")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	first, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "retry: 3000\n", first)
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); ended <- err }()

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the process did not exit within 15s; stderr: %s", stderr.String())
	}
	require.Equal(t, 0, cmd.ProcessState.ExitCode(), stderr.String())
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the live stream did not end with the process")
	}
	var drain float64 = -1
	for line := range strings.SplitSeq(stdout.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["message"] == "stopped" {
			drain, _ = l["duration"].(float64)
		}
	}
	require.GreaterOrEqual(t, drain, 0.0, "no stop line in:\n%s", stdout.String())
	require.Less(t, drain, 10_000.0, "the stop waited for the live stream (milliseconds)")
}
