package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/health"
)

// Server serves the registered routes on backend.listen, within the limits of
// backend.server.
type Server struct {
	listen   Listen
	settings Settings
	conns    *connMetrics
	log      zerolog.Logger
	mux      *http.ServeMux
	routes   []Route
	health   *healthRoutes
	srv      *http.Server
	ln       net.Listener
	stopping chan struct{} // closed when Stop begins
	stopOnce sync.Once
}

// Params are the inputs of [New].
type Params struct {
	fx.In
	Listen        Listen
	Settings      Settings // backend.server; zero fields take their defaults
	CORS          CORS     `optional:"true"` // backend.cors
	Logger        zerolog.Logger
	Registry      *prometheus.Registry
	Routes        []Route        `group:"routes"`
	Checks        []health.Check `group:"health"`
	Authenticator Authenticator  `optional:"true"`
	Pages         PageResponder  `optional:"true"` // answers refused page routes (Route.Page)
}

// New builds the server and registers every route with its policy. Two routes with the same
// or overlapping patterns are an error, and so are invalid Settings.
func New(p Params) (*Server, error) {
	auth := p.Authenticator
	if auth == nil {
		auth = DenyAll{}
	}
	settings := p.Settings.withDefaults()
	if err := settings.Validate(); err != nil {
		return nil, fmt.Errorf("backend.server: %w", err)
	}
	s := &Server{listen: p.Listen, settings: settings, log: p.Logger, mux: http.NewServeMux(),
		health: &healthRoutes{checks: p.Checks}, stopping: make(chan struct{})}
	builtin := []Route{
		{Method: http.MethodGet, Path: LivenessPath, Handler: http.HandlerFunc(s.health.liveness), Auth: Unauthenticated},
		{Method: http.MethodGet, Path: ReadinessPath, Handler: http.HandlerFunc(s.health.readiness), Auth: Unauthenticated},
		{Method: http.MethodGet, Path: "/metrics", Handler: promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{Registry: p.Registry}), Auth: Unauthenticated},
		// Profiling, for admins (go tool pprof http://…/debug/pprof/profile with a token).
		{Method: http.MethodGet, Path: "/debug/pprof/", Handler: http.HandlerFunc(pprof.Index), Auth: RequireAdmin},
		{Method: http.MethodGet, Path: "/debug/pprof/profile", Handler: http.HandlerFunc(pprof.Profile), Auth: RequireAdmin},
		{Method: http.MethodGet, Path: "/debug/pprof/trace", Handler: http.HandlerFunc(pprof.Trace), Auth: RequireAdmin},
	}
	for _, r := range append(builtin, p.Routes...) {
		if err := s.handle(r, auth, p.Pages); err != nil {
			return nil, err
		}
	}
	m, err := newHTTPMetrics(p.Registry)
	if err != nil {
		return nil, err
	}
	if s.conns, err = newConnMetrics(p.Registry); err != nil {
		return nil, err
	}
	s.srv = &http.Server{
		Handler:           instrument(p.CORS.wrap(limitBodyTime(http.HandlerFunc(s.serve), settings.BodyReadTimeout)), p.Logger, m),
		ReadHeaderTimeout: settings.HeadersTimeout,
		WriteTimeout:      settings.WriteTimeout,
		IdleTimeout:       settings.KeepAliveTimeout,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), stoppingKey{}, s.stopping)
		},
	}
	return s, nil
}

func (s *Server) handle(r Route, auth Authenticator, pages PageResponder) (err error) {
	if r.Handler == nil || !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("route %q: needs a handler and a path starting with /", r.Pattern())
	}
	if r.Page && pages == nil {
		return fmt.Errorf("route %q: is a page, but no module provides the PageResponder that answers its refusals", r.Pattern())
	}
	defer func() {
		// ServeMux panics on conflicting patterns; that is a wiring error to report.
		if p := recover(); p != nil {
			err = fmt.Errorf("route %q: %v", r.Pattern(), p)
		}
	}()
	s.mux.Handle(r.Pattern(), guard(r, auth, pages))
	s.routes = append(s.routes, r)
	return nil
}

// serve answers unmatched requests with JSON 404/405 and hands the rest to the mux.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		rec := &headerRecorder{header: http.Header{}}
		h, _ := s.mux.Handler(r)
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allow)
			WriteError(w, r, Errorf(http.StatusMethodNotAllowed, "method %s is not allowed here; use %s", r.Method, allow))
			return
		}
		WriteError(w, r, Errorf(http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// headerRecorder captures what ServeMux's own 404/405 handlers would answer.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }

// Routes returns every registered route, built-in ones included, sorted by path.
func (s *Server) Routes() []Route {
	out := append([]Route(nil), s.routes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern() < out[j].Pattern() })
	return out
}

// Handler returns the server's full handler chain, for tests that use httptest.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Start binds the listening socket (so a port in use fails start-up) and serves in the
// background, admitting connections within backend.server's caps.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.listen.Addr())
	if err != nil {
		return fmt.Errorf("cannot listen on %s (backend.listen): %w", s.listen.Addr(), unwrapOpError(err))
	}
	ln = newLimitListener(ln, s.settings.MaxConnections, s.settings.MaxConnectionsPerClient, s.conns)
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Msg("HTTP server stopped")
		}
	}()
	s.health.ready.Store(true)
	s.log.Info().Str("addr", ln.Addr().String()).Msg("listening")
	return nil
}

// Stop reports not-ready, tells long-lived responses to end (see [Stopping]), stops
// accepting, and waits for in-flight requests until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	s.health.ready.Store(false)
	s.stopOnce.Do(func() { close(s.stopping) })
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stop HTTP server: %w", err)
	}
	return nil
}

type stoppingKey struct{}

// Stopping returns a channel that is closed when the server serving the request (ctx is a
// request's context) begins to stop. A long-lived response, such as a stream of server-sent
// events, returns when it closes: the server's stop waits for every request to end. Outside
// a request served by a Server the channel is nil and never closes.
func Stopping(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(stoppingKey{}).(chan struct{})
	return c
}

// Addr returns the bound address (useful with port 0); empty before Start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// unwrapOpError drops the "listen tcp addr:" prefix that net adds, keeping the cause.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Module provides the Server (started and stopped by the fx lifecycle once something
// requires it) and the backend.listen, backend.server, backend.baseUrl and backend.cors
// sections; it includes
// [health.Module], whose registry /metrics serves.
var Module = fx.Module("httpserver",
	config.Provide[Listen]("backend.listen"),
	config.Provide[Settings]("backend.server"),
	config.Provide[BaseURL]("backend.baseUrl"),
	config.Provide[CORS]("backend.cors"),
	health.Module,
	fx.Provide(
		func(lc fx.Lifecycle, p Params) (*Server, error) {
			s, err := New(p)
			if err == nil {
				lc.Append(fx.StartStopHook(s.Start, s.Stop))
			}
			return s, err
		},
	),
)
