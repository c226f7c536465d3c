package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// slowClients is how many raw connections each test holds open against the server.
const slowClients = 200

// slowBodyRequest is a webhook's headers announcing a body that never comes.
const slowBodyRequest = "POST /api/events/http/github HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
	"Content-Type: application/json\r\nX-GitHub-Event: push\r\nContent-Length: 100000\r\n\r\n"

// slowServer starts the real binary with the github topic and the given backend.server
// settings (YAML lines indented for that section), and stops it at the end of the test.
func slowServer(t *testing.T, server string) (port int) {
	t.Helper()
	port = freePort(t)
	cfg := writeConfig(t, fmt.Sprintf("backend:\n  listen:\n    port: %d\n  database:\n    connection: %s\n  server:\n%s"+
		"events:\n  http:\n    topics: [github]\n  modules:\n    github:\n      webhookSecret: slow-body-test-secret\n",
		port, filepath.Join(t.TempDir(), "db.sqlite"), server))
	p := start(t, "--config", cfg)
	waitLive(t, port)
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t, 30*time.Second)
	})
	return port
}

// dialSlow opens n connections from 127.0.0.2 — another client than the probes, which come
// from 127.0.0.1 — and sends slowBodyRequest on each. A connection the server closed on
// accept may fail the write; reading it later tells.
func dialSlow(t *testing.T, port, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, _ = io.WriteString(c, slowBodyRequest)
		conns = append(conns, c)
	}
	return conns
}

// probe makes one request on a new connection and returns its status and body.
func probe(t *testing.T, port int, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	require.NoError(t, err, "GET %s while the slow clients are connected", path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// metric returns the value of the sample named exactly name (labels included) in /metrics.
func metric(t *testing.T, port int, name string) float64 {
	t.Helper()
	code, body := probe(t, port, "/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// TestSlowBodiesAreCutOff holds 200 connections that send a webhook's headers with
// Content-Length: 100000 and then nothing. With bodyReadTimeout 1s, each must be answered
// 408 in Backstage's shape (or, over the per-client cap, closed) within a bound far below the
// minutes it used to take, liveness must answer meanwhile, and the server's goroutines must
// return to their baseline once the clients are gone.
func TestSlowBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	port := slowServer(t, "    bodyReadTimeout: 1s\n    writeTimeout: 20s\n    maxConnectionsPerClient: 150\n")
	baseline := metric(t, port, "go_goroutines")

	conns := dialSlow(t, port, slowClients)
	code, _ := probe(t, port, "/.backstage/health/v1/liveness")
	require.Equal(t, http.StatusOK, code)

	// Far above the 1s timeout so that a loaded machine does not fail the test, far below
	// "held for minutes".
	const bound = 30 * time.Second
	deadline := time.Now().Add(bound)
	var (
		wg                  sync.WaitGroup
		mu                  sync.Mutex
		answered, closed    int
		heldPastBound, odds []string
	)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(deadline)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			mu.Lock()
			defer mu.Unlock()
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				heldPastBound = append(heldPastBound, fmt.Sprintf("connection %d: no answer within %s", i, bound))
			case err != nil: // EOF or reset: the server closed it
				closed++
			default:
				defer resp.Body.Close()
				var body struct {
					Error    struct{ Name, Message string }
					Response struct{ StatusCode int }
				}
				decodeErr := json.NewDecoder(resp.Body).Decode(&body)
				if resp.StatusCode != http.StatusRequestTimeout || decodeErr != nil || body.Error.Name != "RequestTimeoutError" ||
					body.Response.StatusCode != http.StatusRequestTimeout || !resp.Close {
					odds = append(odds, fmt.Sprintf("connection %d: %d %+v (%v)", i, resp.StatusCode, body, decodeErr))
					return
				}
				answered++ // and resp.Close: the server said Connection: close
			}
		}()
	}
	wg.Wait()
	require.Empty(t, heldPastBound)
	require.Empty(t, odds)
	require.Equal(t, slowClients, answered+closed)
	// The first 150 are admitted whatever the timing; more may be once early ones are answered.
	require.GreaterOrEqual(t, answered, 150)
	require.EqualValues(t, closed, metric(t, port, `stagebus_http_connections_refused_total{reason="client"}`))
	t.Logf("%d slow clients: %d answered 408, %d closed on accept", slowClients, answered, closed)

	for _, c := range conns {
		_ = c.Close()
	}
	// The connections' goroutines end as the server sees them closed; wait for that, bounded.
	var now float64
	for end := time.Now().Add(bound); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if now = metric(t, port, "go_goroutines"); now <= baseline+10 {
			break
		}
	}
	require.LessOrEqual(t, now, baseline+10, "goroutines: %v before the slow clients, %v after", baseline, now)
	t.Logf("goroutines: %v before the slow clients, %v after", baseline, now)
}

// TestSlowClientCannotStarveLiveness fills one client's connection cap with slow bodies that
// stay held (bodyReadTimeout 10m) and checks that the excess is closed at once and that
// liveness, from another address, still answers.
func TestSlowClientCannotStarveLiveness(t *testing.T) {
	t.Parallel()
	port := slowServer(t, "    bodyReadTimeout: 10m\n    writeTimeout: 11m\n    maxConnections: 300\n    maxConnectionsPerClient: 100\n")

	conns := dialSlow(t, port, slowClients)
	// The 100 over the cap are closed on accept: each reads EOF or a reset, not a timeout.
	deadline := time.Now().Add(30 * time.Second)
	for i, c := range conns[100:] {
		_ = c.SetReadDeadline(deadline)
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection %d over the cap was not closed", 100+i)
		require.Error(t, err)
	}
	require.EqualValues(t, 100, metric(t, port, `stagebus_http_connections_refused_total{reason="client"}`))
	// The 100 within the cap are held (their bodies have 10 minutes), and liveness answers.
	require.GreaterOrEqual(t, metric(t, port, "stagebus_http_connections_open"), 100.0)
	code, body := probe(t, port, "/.backstage/health/v1/liveness")
	require.Equal(t, http.StatusOK, code, body)
}
