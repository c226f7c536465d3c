package httpserver

import (
	"net/http"
	"sync/atomic"

	"github.com/stagebus/stagebus/health"
)

// The health endpoints, at Backstage's paths; both need no credentials.
const (
	LivenessPath  = "/.backstage/health/v1/liveness"
	ReadinessPath = "/.backstage/health/v1/readiness"
)

// healthRoutes serves liveness and readiness; ready is true between Start and Stop.
type healthRoutes struct {
	ready  atomic.Bool
	checks []health.Check
}

type healthBody struct {
	Status  string            `json:"status"`
	Message string            `json:"message,omitempty"`
	Checks  map[string]string `json:"checks,omitempty"`
	// Details are what checks report beyond up or down (see health.Check.Detail).
	Details map[string]string `json:"details,omitempty"`
}

// liveness answers 200 while the process serves at all.
func (h *healthRoutes) liveness(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, healthBody{Status: "ok"})
}

// readiness answers 200 when the server has started, is not stopping, and every check passes;
// otherwise 503 with the failing checks. Either way it adds the checks' details.
func (h *healthRoutes) readiness(w http.ResponseWriter, r *http.Request) {
	if !h.ready.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, healthBody{Status: "error", Message: "Backend is not ready (starting or stopping)"})
		return
	}
	details := health.Details(r.Context(), h.checks)
	if failed := health.Run(r.Context(), h.checks); len(failed) > 0 {
		WriteJSON(w, http.StatusServiceUnavailable, healthBody{Status: "error", Message: "some checks failed", Checks: failed, Details: details})
		return
	}
	WriteJSON(w, http.StatusOK, healthBody{Status: "ok", Details: details})
}
