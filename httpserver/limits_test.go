package httpserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/httpserver"
)

func TestSettingsConfig(t *testing.T) {
	t.Parallel()
	defaults := httpserver.Settings{HeadersTimeout: 10 * time.Second, BodyReadTimeout: 30 * time.Second, WriteTimeout: time.Minute,
		KeepAliveTimeout: 2 * time.Minute, MaxConnections: 2048, MaxConnectionsPerClient: 256}
	tests := []struct {
		name    string
		yaml    string
		want    httpserver.Settings
		wantErr []string
	}{
		{name: "defaults", yaml: "{}", want: defaults},
		{name: "Go and Backstage duration forms", yaml: "backend:\n  server:\n    bodyReadTimeout: {minutes: 2}\n    writeTimeout: 3m\n    maxConnectionsPerClient: 2048\n",
			want: func() httpserver.Settings {
				s := defaults
				s.BodyReadTimeout, s.WriteTimeout, s.MaxConnectionsPerClient = 2*time.Minute, 3*time.Minute, 2048
				return s
			}()},
		{name: "zero durations", yaml: "backend:\n  server:\n    headersTimeout: 0s\n    keepAliveTimeout: 0s\n", wantErr: []string{
			"backend.server.headersTimeout: must be a positive duration such as 30s",
			"backend.server.keepAliveTimeout: must be a positive duration such as 30s",
		}},
		{name: "write timeout within the body timeout", yaml: "backend:\n  server:\n    bodyReadTimeout: 1m\n    writeTimeout: 1m\n",
			wantErr: []string{"backend.server.writeTimeout: must be longer than bodyReadTimeout (1m0s), so that a 408 can still be written; got 1m0s"}},
		{name: "connection caps", yaml: "backend:\n  server:\n    maxConnections: 0\n    maxConnectionsPerClient: 5\n", wantErr: []string{
			"backend.server.maxConnections: must be at least 1, got 0",
			"backend.server.maxConnectionsPerClient: must be from 1 to maxConnections (0), got 5",
		}},
		{name: "per-client cap above the total", yaml: "backend:\n  server:\n    maxConnectionsPerClient: 4096\n",
			wantErr: []string{"backend.server.maxConnectionsPerClient: must be from 1 to maxConnections (2048), got 4096"}},
		{name: "not a duration", yaml: "backend:\n  server:\n    bodyReadTimeout: soon\n",
			wantErr: []string{"backend.server.bodyReadTimeout: expected a duration such as 30s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "app-config.yaml")
			require.NoError(t, os.WriteFile(p, []byte(tt.yaml), 0o600))
			tree, err := config.Load([]string{p}, nil)
			require.NoError(t, err)
			c, err := config.Decode(tree, config.NewSection[httpserver.Settings]("backend.server"))
			if tt.wantErr != nil {
				for _, w := range tt.wantErr {
					require.ErrorContains(t, err, w)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, config.Get[httpserver.Settings](c, "backend.server"))
		})
	}
}

func TestNewRefusesInvalidSettings(t *testing.T) {
	t.Parallel()
	_, err := httpserver.New(httpserver.Params{Logger: zerolog.Nop(), Registry: prometheus.NewRegistry(),
		Settings: httpserver.Settings{BodyReadTimeout: time.Minute, WriteTimeout: time.Second}})
	require.ErrorContains(t, err, "backend.server: writeTimeout: must be longer than bodyReadTimeout")
}

// bodyTimeout is the body timeout of the servers below; short, so that tests wait little.
const bodyTimeout = 300 * time.Millisecond

// startServer starts a real server on a free port with settings, serving the body routes.
func startServer(t *testing.T, settings httpserver.Settings) (*httpserver.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := httpserver.New(httpserver.Params{
		Listen:   httpserver.Listen{Host: "127.0.0.1", Port: 0},
		Settings: settings,
		Logger:   zerolog.Nop(),
		Registry: reg,
		Routes: []httpserver.Route{
			// read answers like a webhook handler: 400 when the body cannot be read.
			{Method: http.MethodPost, Path: "/api/read", Auth: httpserver.Unauthenticated, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "could not read the body"))
					return
				}
				httpserver.WriteJSON(w, http.StatusOK, map[string]int{"bytes": len(body)})
			})},
			// ignore answers without reading the body.
			{Method: http.MethodPost, Path: "/api/ignore", Auth: httpserver.Unauthenticated, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusAccepted)
			})},
			// slow reads the whole body, then works for longer than the body timeout.
			{Method: http.MethodPost, Path: "/api/slow", Auth: httpserver.Unauthenticated, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "could not read the body"))
					return
				}
				time.Sleep(3 * bodyTimeout)
				httpserver.WriteJSON(w, http.StatusOK, map[string]any{"bytes": len(body), "ctxErr": fmt.Sprint(r.Context().Err())})
			})},
		},
	})
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv, reg
}

// exchange writes raw on a new connection and reads one response, failing the test when no
// answer comes within 10s (the server is meant to answer within bodyTimeout).
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, raw string) (*http.Response, map[string]any) {
	t.Helper()
	_, err := io.WriteString(c, raw)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "no answer")
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func TestBodyReadTimeout(t *testing.T) {
	t.Parallel()
	srv, _ := startServer(t, httpserver.Settings{BodyReadTimeout: bodyTimeout, WriteTimeout: 10 * time.Second})
	post := func(path, headers, body string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + headers + "\r\n" + body
	}
	tests := []struct {
		name       string
		request    string
		wantStatus int
		wantName   string
		wantClose  bool
		check      func(t *testing.T, body map[string]any)
	}{
		{name: "a body that never comes is 408, not the handler's 400", request: post("/api/read", "Content-Length: 100000\r\n", "{"),
			wantStatus: http.StatusRequestTimeout, wantName: "RequestTimeoutError", wantClose: true,
			check: func(t *testing.T, body map[string]any) {
				require.Equal(t, map[string]any{"method": "POST", "url": "/api/read"}, body["request"])
				require.Contains(t, body["error"].(map[string]any)["message"], "backend.server.bodyReadTimeout")
			}},
		{name: "an unfinished chunked body is 408", request: post("/api/read", "Transfer-Encoding: chunked\r\n", "5\r\n{}{}{"),
			wantStatus: http.StatusRequestTimeout, wantName: "RequestTimeoutError", wantClose: true},
		{name: "a handler that answers without reading is answered and the connection closed", request: post("/api/ignore", "Content-Length: 100000\r\n", ""),
			wantStatus: http.StatusAccepted, wantClose: true},
		{name: "a complete body with a handler slower than the body timeout is served", request: post("/api/slow", "Content-Length: 2\r\n", "{}"),
			wantStatus: http.StatusOK, check: func(t *testing.T, body map[string]any) {
				require.Equal(t, map[string]any{"bytes": float64(2), "ctxErr": "<nil>"}, body)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", srv.Addr())
			require.NoError(t, err)
			defer c.Close()
			resp, body := exchange(t, c, bufio.NewReader(c), tt.request)
			require.Equal(t, tt.wantStatus, resp.StatusCode, "%v", body)
			require.Equal(t, tt.wantClose, resp.Close, "Connection: close")
			if tt.wantName != "" {
				require.Equal(t, tt.wantName, body["error"].(map[string]any)["name"])
			}
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}
}

// TestBodyDeadlineDoesNotOutliveTheRequest serves a request with a body, waits past the body
// timeout on the same keep-alive connection, and checks that the next request is served.
func TestBodyDeadlineDoesNotOutliveTheRequest(t *testing.T) {
	t.Parallel()
	srv, _ := startServer(t, httpserver.Settings{BodyReadTimeout: bodyTimeout, WriteTimeout: 10 * time.Second})
	c, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	resp, _ := exchange(t, c, br, "POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close)
	time.Sleep(3 * bodyTimeout)
	resp, _ = exchange(t, c, br, "POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// gather returns the value of the metric name with the label reason (or no label) in reg.
func gather(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 0 && reason == "" {
				return m.GetGauge().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{reason=%q}", name, reason)
	return 0
}

// dialFrom connects to addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// requireClosedByServer fails unless the server closes c (EOF or reset) within 10s.
func requireClosedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept a connection over the cap")
	require.Error(t, err)
}

// live requests liveness on c and requires 200.
func live(t *testing.T, c net.Conn) {
	t.Helper()
	resp, _ := exchange(t, c, bufio.NewReader(c), "GET /.backstage/health/v1/liveness HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	// Idle connections stay until headersTimeout: a minute, longer than the test.
	srv, reg := startServer(t, httpserver.Settings{HeadersTimeout: time.Minute, MaxConnections: 4, MaxConnectionsPerClient: 2})
	addr := srv.Addr()

	// One client fills its share; its next connection is closed, and others still get in.
	a1 := dialFrom(t, "127.0.0.2", addr)
	dialFrom(t, "127.0.0.2", addr)
	requireClosedByServer(t, dialFrom(t, "127.0.0.2", addr))
	live(t, dialFrom(t, "127.0.0.3", addr))
	require.EqualValues(t, 1, gather(t, reg, "stagebus_http_connections_refused_total", "client"))

	// With the .3 connection still open, one more fills the total: the next is closed
	// whoever it comes from.
	dialFrom(t, "127.0.0.4", addr)
	requireClosedByServer(t, dialFrom(t, "127.0.0.1", addr))
	require.EqualValues(t, 1, gather(t, reg, "stagebus_http_connections_refused_total", "total"))
	require.EqualValues(t, 4, gather(t, reg, "stagebus_http_connections_open", ""))

	// A closed connection gives its slot back.
	require.NoError(t, a1.Close())
	for end := time.Now().Add(10 * time.Second); gather(t, reg, "stagebus_http_connections_open", "") > 3; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(end), "the closed connection's slot was not released")
	}
	live(t, dialFrom(t, "127.0.0.1", addr))
}
