package httpserver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/httpserver"
)

// TestCORS: an allowed origin's preflight is answered and its responses are marked (with
// credentials when configured); another origin's are not, so its browser hides the answers.
func TestCORS(t *testing.T) {
	t.Parallel()
	var cors httpserver.CORS
	cors.SetDefaults()
	cors.Origin, cors.Credentials = httpserver.Origins{"https://portal.example"}, true
	srv, err := httpserver.New(httpserver.Params{Logger: zerolog.Nop(), Registry: prometheus.NewRegistry(), CORS: cors,
		Routes: []httpserver.Route{{Method: http.MethodGet, Path: "/api/x", Auth: httpserver.Unauthenticated,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })}}})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, method, origin, requestMethod string
		status                              int
		allowOrigin                         string
	}{
		{"preflight of an allowed origin", http.MethodOptions, "https://portal.example", http.MethodPost, http.StatusNoContent, "https://portal.example"},
		{"preflight of a method not allowed", http.MethodOptions, "https://portal.example", "TRACE", http.StatusForbidden, "https://portal.example"},
		{"request of an allowed origin", http.MethodGet, "https://portal.example", "", http.StatusTeapot, "https://portal.example"},
		{"preflight of another origin", http.MethodOptions, "https://evil.example", http.MethodPost, http.StatusMethodNotAllowed, ""},
		{"request of another origin", http.MethodGet, "https://evil.example", "", http.StatusTeapot, ""},
		{"request without an origin", http.MethodGet, "", "", http.StatusTeapot, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/api/x", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.requestMethod != "" {
				r.Header.Set("Access-Control-Request-Method", tc.requestMethod)
				r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			}
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code)
			require.Equal(t, tc.allowOrigin, w.Header().Get("Access-Control-Allow-Origin"))
			require.Contains(t, w.Header().Values("Vary"), "Origin")
			if tc.allowOrigin != "" {
				require.Equal(t, "true", w.Header().Get("Access-Control-Allow-Credentials"))
			}
			if tc.status == http.StatusNoContent {
				require.Equal(t, "GET, HEAD, PATCH, POST, PUT, DELETE", w.Header().Get("Access-Control-Allow-Methods"))
				require.Equal(t, "authorization, content-type", w.Header().Get("Access-Control-Allow-Headers"))
			}
		})
	}
}

func TestCORSConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml    string
		origins []string
		err     string
	}{
		{"backend:\n  cors:\n    origin: http://localhost:3000\n    credentials: true\n", []string{"http://localhost:3000"}, ""},
		{"backend:\n  cors:\n    origin: [https://a.example, https://b.example]\n", []string{"https://a.example", "https://b.example"}, ""},
		{"backend:\n  cors:\n    origin: '*'\n", nil, "backend.cors.origin[0]: must be an origin"},
		{"backend:\n  cors:\n    origin: https://a.example/app\n", nil, "backend.cors.origin[0]: must be an origin"},
		{"backend:\n  cors:\n    origin: https://a.example\n    methods: [get]\n", nil, "backend.cors.methods[0]: must be an HTTP method in capitals"},
	} {
		c, err := config.Decode(configtest.Tree(t, tc.yaml), config.NewSection[httpserver.CORS]("backend.cors"))
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.yaml)
			continue
		}
		require.NoError(t, err, tc.yaml)
		require.Equal(t, httpserver.Origins(tc.origins), config.Get[httpserver.CORS](c, "backend.cors").Origin)
	}
}
