package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/health"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
)

func okHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := httpserver.PrincipalFromContext(r.Context())
		httpserver.WriteJSON(w, http.StatusOK, map[string]string{"body": body, "principal": p.Subject, "type": string(p.Type), "path": r.PathValue("name")})
	})
}

var testRoutes = []httpserver.Route{
	{Method: http.MethodGet, Path: "/api/things/{name}", Handler: okHandler("thing")},
	{Method: http.MethodPost, Path: "/api/hooks/{name}", Handler: okHandler("hook"), Auth: httpserver.Unauthenticated},
	{Method: http.MethodDelete, Path: "/api/admin/{name}", Handler: okHandler("admin"), Auth: httpserver.RequireAdmin},
	{Method: http.MethodGet, Path: "/api/panic", Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })},
}

type fixture struct {
	srv  *httpserver.Server
	logs *bytes.Buffer
}

func newServer(t *testing.T, auth httpserver.Authenticator, checks ...health.Check) fixture {
	t.Helper()
	logs := &bytes.Buffer{}
	srv, err := httpserver.New(httpserver.Params{
		Listen:        httpserver.Listen{Host: "127.0.0.1", Port: 0},
		Logger:        zerolog.New(&syncWriter{w: logs}),
		Registry:      prometheus.NewRegistry(),
		Routes:        testRoutes,
		Checks:        checks,
		Authenticator: auth,
	})
	require.NoError(t, err)
	return fixture{srv: srv, logs: logs}
}

func do(t *testing.T, h http.Handler, method, target string, authorize bool, header ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader("{}"))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	if authorize {
		httpservertest.Authorize(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w, body
}

// TestRouteWalker checks every registered route: 401 without credentials unless it is
// declared unauthenticated, and not 401 with them.
func TestRouteWalker(t *testing.T) {
	t.Parallel()
	f := newServer(t, httpservertest.User("user:default/alice", true))
	require.Len(t, f.srv.Routes(), len(testRoutes)+6)
	for _, rt := range f.srv.Routes() {
		target := strings.NewReplacer("{name}", "x").Replace(rt.Path) + "?seconds=1" // keeps the CPU profile short
		method := rt.Method
		if rt.Path == "/api/panic" {
			continue // answers 500 once authenticated, checked below
		}
		t.Run(rt.Pattern(), func(t *testing.T) {
			w, _ := do(t, f.srv.Handler(), method, target, false)
			if rt.Auth == httpserver.Unauthenticated {
				require.NotEqual(t, http.StatusUnauthorized, w.Code)
			} else {
				require.Equal(t, http.StatusUnauthorized, w.Code)
			}
			w, _ = do(t, f.srv.Handler(), method, target, true)
			require.NotEqual(t, http.StatusUnauthorized, w.Code)
		})
	}
}

func TestDefaultDenyAll(t *testing.T) {
	t.Parallel()
	f := newServer(t, nil)
	for _, target := range []string{"/api/things/x", "/api/panic"} {
		w, body := do(t, f.srv.Handler(), http.MethodGet, target, true)
		require.Equal(t, http.StatusUnauthorized, w.Code)
		require.Equal(t, "AuthenticationError", body["error"].(map[string]any)["name"])
	}
	w, _ := do(t, f.srv.Handler(), http.MethodGet, "/.backstage/health/v1/liveness", false)
	require.Equal(t, http.StatusOK, w.Code)
}

func TestResponses(t *testing.T) {
	t.Parallel()
	f := newServer(t, httpservertest.User("user:default/bob", false))
	tests := []struct {
		name       string
		method     string
		target     string
		authorize  bool
		wantStatus int
		wantName   string
		check      func(t *testing.T, body map[string]any, w *httptest.ResponseRecorder)
	}{
		{name: "authenticated route sees the principal and path values", method: http.MethodGet, target: "/api/things/widget", authorize: true, wantStatus: 200,
			check: func(t *testing.T, body map[string]any, _ *httptest.ResponseRecorder) {
				require.Equal(t, "user:default/bob", body["principal"])
				require.Equal(t, "widget", body["path"])
			}},
		{name: "unauthenticated route sees no principal", method: http.MethodPost, target: "/api/hooks/gh", wantStatus: 200,
			check: func(t *testing.T, body map[string]any, _ *httptest.ResponseRecorder) {
				require.Equal(t, "none", body["type"])
			}},
		{name: "wrong token is 401 in Backstage's error shape", method: http.MethodGet, target: "/api/things/x", wantStatus: 401, wantName: "AuthenticationError",
			check: func(t *testing.T, body map[string]any, _ *httptest.ResponseRecorder) {
				require.Equal(t, map[string]any{"method": "GET", "url": "/api/things/x"}, body["request"])
				require.Equal(t, map[string]any{"statusCode": float64(401)}, body["response"])
			}},
		{name: "admin route with a non-admin is 403", method: http.MethodDelete, target: "/api/admin/x", authorize: true, wantStatus: 403, wantName: "NotAllowedError"},
		{name: "panic is 500 without details", method: http.MethodGet, target: "/api/panic", authorize: true, wantStatus: 500, wantName: "Error",
			check: func(t *testing.T, body map[string]any, _ *httptest.ResponseRecorder) {
				require.Equal(t, "internal server error", body["error"].(map[string]any)["message"])
			}},
		{name: "unknown path is JSON 404", method: http.MethodGet, target: "/api/nothing", wantStatus: 404, wantName: "NotFoundError"},
		{name: "wrong method is JSON 405 with Allow", method: http.MethodPut, target: "/api/things/x", authorize: true, wantStatus: 405, wantName: "MethodNotAllowedError",
			check: func(t *testing.T, _ map[string]any, w *httptest.ResponseRecorder) {
				require.Contains(t, w.Header().Get("Allow"), "GET")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, body := do(t, f.srv.Handler(), tt.method, tt.target, tt.authorize)
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			if tt.wantName != "" {
				require.Equal(t, tt.wantName, body["error"].(map[string]any)["name"])
			}
			if tt.check != nil {
				tt.check(t, body, w)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	f := newServer(t, httpservertest.User("user:default/bob", false))
	w, _ := do(t, f.srv.Handler(), http.MethodGet, "/api/things/x", true, httpserver.RequestIDHeader, "abc-123")
	require.Equal(t, "abc-123", w.Header().Get(httpserver.RequestIDHeader))
	w, _ = do(t, f.srv.Handler(), http.MethodGet, "/api/panic", true)
	generated := w.Header().Get(httpserver.RequestIDHeader)
	require.Len(t, generated, 36)
	w, _ = do(t, f.srv.Handler(), http.MethodGet, "/api/things/x", true, httpserver.RequestIDHeader, "bad id\nforged")
	require.NotEqual(t, "bad id\nforged", w.Header().Get(httpserver.RequestIDHeader))

	// Every log line of a request carries its id: the panic line and the request line.
	var panicLines, requestLines int
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var entry map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		require.NotEmpty(t, entry["request_id"], line)
		if entry["request_id"] == generated {
			switch entry["message"] {
			case "handler panicked":
				panicLines++
			case "request":
				requestLines++
			}
		}
	}
	require.Equal(t, 1, panicLines)
	require.Equal(t, 1, requestLines)
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	healthy := true
	f := newServer(t, nil, health.Check{Name: "db", Check: func(context.Context) error {
		if healthy {
			return nil
		}
		return io.ErrUnexpectedEOF
	}}, health.Check{Name: "events", Check: func(context.Context) error { return nil },
		Detail: func(context.Context) string { return "outbox: 3 messages waiting" }},
		health.Check{Name: "quiet", Check: func(context.Context) error { return nil },
			Detail: func(context.Context) string { return "" }})
	w, _ := do(t, f.srv.Handler(), http.MethodGet, "/.backstage/health/v1/readiness", false)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, "not ready before Start")

	require.NoError(t, f.srv.Start(context.Background()))
	resp, err := http.Get("http://" + f.srv.Addr() + "/.backstage/health/v1/readiness")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	details := map[string]any{"events": "outbox: 3 messages waiting"} // an empty detail is left out
	w, body := do(t, f.srv.Handler(), http.MethodGet, "/.backstage/health/v1/readiness", false)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, details, body["details"])

	healthy = false
	w, body = do(t, f.srv.Handler(), http.MethodGet, "/.backstage/health/v1/readiness", false)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, map[string]any{"db": "unexpected EOF"}, body["checks"])
	require.Equal(t, details, body["details"])

	require.NoError(t, f.srv.Stop(context.Background()))
	healthy = true
	w, _ = do(t, f.srv.Handler(), http.MethodGet, "/.backstage/health/v1/readiness", false)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, "not ready once stopping")
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newServer(t, httpservertest.User("user:default/bob", false))
	do(t, f.srv.Handler(), http.MethodGet, "/api/things/x", true)
	w, _ := do(t, f.srv.Handler(), http.MethodGet, "/metrics", false)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `stagebus_http_requests_total{code="200",method="GET",route="GET /api/things/{name}"} 1`)
}

// TestMetricLabelsAreBounded: a client chooses the method and the path, so neither may become
// a label value of its own; invented methods count as "other" and unmatched paths as one route.
func TestMetricLabelsAreBounded(t *testing.T) {
	t.Parallel()
	f := newServer(t, httpservertest.User("user:default/bob", false))
	for i := range 20 {
		do(t, f.srv.Handler(), fmt.Sprintf("EVIL%03d", i), fmt.Sprintf("/nowhere/%d", i), true)
	}
	w, _ := do(t, f.srv.Handler(), http.MethodGet, "/metrics", false)
	require.False(t, strings.Contains(w.Body.String(), "EVIL"), "an invented method became a label value")
	require.False(t, strings.Contains(w.Body.String(), "/nowhere/"), "a path became a label value")
	require.Contains(t, w.Body.String(), `stagebus_http_requests_total{code="404",method="other",route="unmatched"} 20`)
}

func TestConflictingRoutesAreAnError(t *testing.T) {
	t.Parallel()
	_, err := httpserver.New(httpserver.Params{
		Listen:   httpserver.Listen{Host: "127.0.0.1"},
		Logger:   zerolog.Nop(),
		Registry: prometheus.NewRegistry(),
		Routes: []httpserver.Route{
			{Method: http.MethodGet, Path: "/api/a/{x}", Handler: okHandler("1")},
			{Method: http.MethodGet, Path: "/api/a/{y}", Handler: okHandler("2")},
		},
	})
	require.ErrorContains(t, err, `route "GET /api/a/{y}"`)
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	a := newServer(t, nil)
	require.NoError(t, a.srv.Start(context.Background()))
	defer a.srv.Stop(context.Background()) //nolint:errcheck
	_, port, _ := strings.Cut(a.srv.Addr(), ":")
	var listen httpserver.Listen
	listen.Host = "127.0.0.1"
	listen.Port = atoi(t, port)
	b, err := httpserver.New(httpserver.Params{Listen: listen, Logger: zerolog.Nop(), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	err = b.Start(context.Background())
	require.ErrorContains(t, err, "cannot listen on 127.0.0.1:"+port+" (backend.listen): bind: address already in use")
}

// pageResponder answers refused pages recognisably.
type pageResponder struct{}

func (pageResponder) Unauthenticated(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/signin?next="+r.URL.Path, http.StatusSeeOther)
}

func (pageResponder) Forbidden(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, "page refused: "+err.Error(), http.StatusForbidden)
}

// TestPages: a page's refusals are the PageResponder's answers, its policy is enforced as
// for any route, and a page without a PageResponder fails start-up.
func TestPages(t *testing.T) {
	t.Parallel()
	routes := []httpserver.Route{
		{Method: http.MethodGet, Path: "/page", Handler: okHandler("page"), Page: true},
		{Method: http.MethodGet, Path: "/admin-page", Handler: okHandler("admin page"), Auth: httpserver.RequireAdmin, Page: true},
		{Method: http.MethodGet, Path: "/api/thing", Handler: okHandler("api")},
	}
	for _, tc := range []struct {
		name      string
		admin     bool
		authorize bool
		target    string
		status    int
		contains  string
	}{
		{"page without credentials is a redirect", false, false, "/page", http.StatusSeeOther, ""},
		{"page with credentials", false, true, "/page", http.StatusOK, `"body":"page"`},
		{"admin page for a non-admin", false, true, "/admin-page", http.StatusForbidden, "page refused: "},
		{"admin page without credentials", false, false, "/admin-page", http.StatusSeeOther, ""},
		{"admin page for an admin", true, true, "/admin-page", http.StatusOK, `"body":"admin page"`},
		{"API route still answers JSON", false, false, "/api/thing", http.StatusUnauthorized, "AuthenticationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := httpserver.New(httpserver.Params{
				Listen: httpserver.Listen{Host: "127.0.0.1"}, Logger: zerolog.Nop(), Registry: prometheus.NewRegistry(),
				Routes: routes, Authenticator: httpservertest.User("user:default/alice", tc.admin), Pages: pageResponder{},
			})
			require.NoError(t, err)
			w, _ := do(t, srv.Handler(), http.MethodGet, tc.target, tc.authorize)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), tc.contains)
			if tc.status == http.StatusSeeOther {
				require.Equal(t, "/signin?next="+tc.target, w.Header().Get("Location"))
			}
		})
	}

	_, err := httpserver.New(httpserver.Params{
		Listen: httpserver.Listen{Host: "127.0.0.1"}, Logger: zerolog.Nop(), Registry: prometheus.NewRegistry(), Routes: routes,
	})
	require.ErrorContains(t, err, `route "GET /page": is a page, but no module provides the PageResponder`)
}

// TestStoppingEndsStreams: a long-lived response that waits on Stopping lets Stop finish at
// once instead of holding it until its context ends.
func TestStoppingEndsStreams(t *testing.T) {
	t.Parallel()
	require.Nil(t, httpserver.Stopping(context.Background()))
	started := make(chan struct{})
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		close(started)
		<-httpserver.Stopping(r.Context())
	})
	srv, err := httpserver.New(httpserver.Params{
		Listen: httpserver.Listen{Host: "127.0.0.1"}, Logger: zerolog.Nop(), Registry: prometheus.NewRegistry(),
		Routes: []httpserver.Route{{Method: http.MethodGet, Path: "/stream", Handler: stream, Auth: httpserver.Unauthenticated}},
	})
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	resp, err := http.Get("http://" + srv.Addr() + "/stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	<-started
	// A stop that waited for the stream would run into this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, srv.Stop(ctx))
	require.NoError(t, ctx.Err())
}
