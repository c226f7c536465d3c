package eventsvc

import (
	"errors"
	"fmt"
	"time"

	"github.com/stagebus/stagebus/config"
)

// BusName is events.bus: which backend carries the events.
type BusName string

// SetDefaults selects the in-memory bus.
func (b *BusName) SetDefaults() { *b = "memory" }

// Validate accepts the buses Stagebus has.
func (b BusName) Validate() error {
	if b != "memory" && b != "kafka" && b != "sql" {
		return fmt.Errorf("must be memory, kafka or sql, got %q", string(b))
	}
	return nil
}

// RetryPolicy is events.retry, and a subscription's own override: how often and how fast a
// failing handler is tried again before its event is dead-lettered.
type RetryPolicy struct {
	// MaxAttempts counts every call of the handler, the first included (default 8: with the
	// default intervals about 90 s of retries, at least 45 s with the jitter, so that a
	// handler that needs the database outlasts a database restart or failover before its
	// event is dead-lettered).
	MaxAttempts int `yaml:"maxAttempts"`
	// InitialInterval is the wait after the first failure (default 1s); it doubles after each
	// further failure, with ±50% jitter.
	InitialInterval time.Duration `yaml:"initialInterval"`
	// MaxInterval caps the wait (default 30s).
	MaxInterval time.Duration `yaml:"maxInterval"`
}

// SetDefaults: 8 attempts, 1s doubling to at most 30s.
func (r *RetryPolicy) SetDefaults() {
	*r = RetryPolicy{MaxAttempts: 8, InitialInterval: time.Second, MaxInterval: 30 * time.Second}
}

// Validate checks the bounds.
func (r RetryPolicy) Validate() error {
	var errs []error
	if r.MaxAttempts < 1 || r.MaxAttempts > 100 {
		errs = append(errs, config.Fieldf("maxAttempts", "must be between 1 and 100, got %d", r.MaxAttempts))
	}
	if r.InitialInterval <= 0 {
		errs = append(errs, config.Fieldf("initialInterval", "must be positive"))
	}
	if r.MaxInterval < r.InitialInterval {
		errs = append(errs, config.Fieldf("maxInterval", "must be at least initialInterval (%s)", r.InitialInterval))
	}
	return errors.Join(errs...)
}

// backoff returns the wait after the given failed attempt (1-based): the initial interval
// doubled per attempt, capped, then jittered by ±50% with rnd in [0,1).
func (r RetryPolicy) backoff(attempt int, rnd float64) time.Duration {
	d := r.InitialInterval
	for i := 1; i < attempt && d < r.MaxInterval; i++ {
		d *= 2
	}
	d = min(d, r.MaxInterval)
	return time.Duration(float64(d) * (0.5 + rnd))
}
