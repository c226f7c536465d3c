package health

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"
)

// Check is one readiness check: the database answers, the bus is connected, … Check returns
// nil when the dependency is usable; its error message is shown to operators, so it must not
// carry secrets.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
	// Detail, when set, says more than up or down (a backlog, a dependency that is down
	// while the service still works); the readiness report shows what it returns unless
	// empty. Like Check's error, it must not carry secrets.
	Detail func(ctx context.Context) string
}

// AsCheck annotates a constructor returning a [Check] so that it joins the "health" group.
func AsCheck(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"health"`))
}

// CheckTimeout bounds each check in [Run].
const CheckTimeout = 2 * time.Second

// Run runs every check concurrently, each within [CheckTimeout] and ctx, and returns the
// failing ones by name with their error messages; an empty map means ready.
func Run(ctx context.Context, checks []Check) map[string]string {
	var mu sync.Mutex
	failed := map[string]string{}
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			if err := c.Check(ctx); err != nil {
				mu.Lock()
				failed[c.Name] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// Details runs the checks' Detail functions concurrently, each within [CheckTimeout] and
// ctx, and returns the non-empty answers by name.
func Details(ctx context.Context, checks []Check) map[string]string {
	var mu sync.Mutex
	out := map[string]string{}
	var wg sync.WaitGroup
	for _, c := range checks {
		if c.Detail == nil {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			if d := c.Detail(ctx); d != "" {
				mu.Lock()
				out[c.Name] = d
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// NewRegistry returns the process's metrics registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Module provides the metrics registry, as *prometheus.Registry (for the /metrics handler) and
// as prometheus.Registerer (for modules that add metrics).
var Module = fx.Module("health",
	fx.Provide(
		NewRegistry,
		func(r *prometheus.Registry) prometheus.Registerer { return r },
	),
)
