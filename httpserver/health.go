package httpserver

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
)

// The health endpoints, at Backstage's paths; both need no credentials.
const (
	LivenessPath  = "/.backstage/health/v1/liveness"
	ReadinessPath = "/.backstage/health/v1/readiness"
)

// HealthCheck is one readiness check, contributed through the "health" value group with
// [AsHealthCheck]: the database answers, the bus is connected, …
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// AsHealthCheck annotates a constructor returning a HealthCheck so that it joins the group.
func AsHealthCheck(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"health"`))
}

// healthCheckTimeout bounds each readiness check.
const healthCheckTimeout = 2 * time.Second

type health struct {
	ready  atomic.Bool
	checks []HealthCheck
}

type healthBody struct {
	Status  string            `json:"status"`
	Message string            `json:"message,omitempty"`
	Checks  map[string]string `json:"checks,omitempty"`
}

// liveness answers 200 while the process serves at all.
func (h *health) liveness(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, healthBody{Status: "ok"})
}

// readiness answers 200 when the server has started, is not stopping, and every check passes;
// otherwise 503 with the failing checks.
func (h *health) readiness(w http.ResponseWriter, r *http.Request) {
	if !h.ready.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, healthBody{Status: "error", Message: "Backend is not ready (starting or stopping)"})
		return
	}
	var mu sync.Mutex
	failed := map[string]string{}
	var wg sync.WaitGroup
	for _, c := range h.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), healthCheckTimeout)
			defer cancel()
			if err := c.Check(ctx); err != nil {
				mu.Lock()
				failed[c.Name] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		WriteJSON(w, http.StatusServiceUnavailable, healthBody{Status: "error", Message: "some checks failed", Checks: failed})
		return
	}
	WriteJSON(w, http.StatusOK, healthBody{Status: "ok"})
}
