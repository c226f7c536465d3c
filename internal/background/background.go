package background

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/internal/promreg"
)

// Func is one iteration of a loop. ctx is cancelled when the loop stops; an error is logged
// and counted by the loop, which then goes on (return [ErrFinished] to end it).
type Func func(ctx context.Context) error

// ErrFinished, returned by a Func, ends the loop without an error: the work is done (e.g.
// every configured location was read). Stop still returns nil afterwards.
var ErrFinished = errors.New("background loop finished")

// Errors of Start.
var (
	// ErrStarted means Start was called twice, or after Stop.
	ErrStarted = errors.New("background loop already started")
	// ErrInvalid means the loop was built with options that cannot run.
	ErrInvalid = errors.New("invalid background loop")
)

// MetricErrors is the name of the counter of failed (or panicked) iterations, labelled by
// loop name.
const MetricErrors = "stagebus_background_loop_errors_total"

// Option tunes a Loop.
type Option func(*Loop)

// Immediately makes the first iteration run as soon as the loop starts, instead of after one
// interval.
func Immediately() Option { return func(l *Loop) { l.immediate = true } }

// WithJitter lengthens every wait by a random fraction of itself, up to f (0 ≤ f ≤ 1), so that
// instances started together spread apart.
func WithJitter(f float64) Option { return func(l *Loop) { l.jitter = f } }

// WithBackoff makes the loop retry sooner after a failed iteration: after first, doubling
// with every consecutive failure, up to the interval. Without it a failure waits the interval.
func WithBackoff(first time.Duration) Option { return func(l *Loop) { l.backoff = first } }

// WithTimeout bounds each iteration: its context ends after d.
func WithTimeout(d time.Duration) Option { return func(l *Loop) { l.timeout = d } }

// WithLogger sets the logger of iteration errors and panics (default: none). The loop adds
// the field loop=<name>.
func WithLogger(log zerolog.Logger) Option { return func(l *Loop) { l.log = log } }

// WithRegisterer counts failed iterations in [MetricErrors] on reg. Loops of one process
// share the counter; reg may be nil (nothing is counted).
func WithRegisterer(reg prometheus.Registerer) Option { return func(l *Loop) { l.reg = reg } }

// Loop runs a Func periodically until Stop; see the package documentation for its contract.
// Its methods are safe for concurrent use.
type Loop struct {
	name      string
	interval  time.Duration
	fn        Func
	immediate bool
	jitter    float64
	backoff   time.Duration
	timeout   time.Duration
	log       zerolog.Logger
	reg       prometheus.Registerer
	errors    prometheus.Counter // nil when not counted

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when the goroutine returns; nil before Start
}

// New returns a loop that calls fn every interval once started. name identifies it in logs
// and as the metric label: a constant per call site (or per configured instance), never data
// from requests. Options are checked by Start.
func New(name string, interval time.Duration, fn Func, opts ...Option) *Loop {
	l := &Loop{name: name, interval: interval, fn: fn, log: zerolog.Nop()}
	for _, o := range opts {
		o(l)
	}
	l.log = l.log.With().Str("loop", name).Logger()
	return l
}

// Name returns the loop's name.
func (l *Loop) Name() string { return l.name }

// Hook returns the fx hook that starts the loop in OnStart and stops it in OnStop.
func (l *Loop) Hook() fx.Hook { return fx.StartStopHook(l.Start, l.Stop) }

func (l *Loop) validate() error {
	var errs []error
	if l.name == "" {
		errs = append(errs, errors.New("a name is required"))
	}
	if l.fn == nil {
		errs = append(errs, errors.New("a func is required"))
	}
	if l.interval <= 0 {
		errs = append(errs, fmt.Errorf("interval must be positive, got %s", l.interval))
	}
	if l.jitter < 0 || l.jitter > 1 {
		errs = append(errs, fmt.Errorf("jitter must be between 0 and 1, got %g", l.jitter))
	}
	if l.backoff < 0 || l.timeout < 0 {
		errs = append(errs, errors.New("backoff and timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalid, l.name, err)
	}
	return nil
}

// Start starts the loop on a context of its own and returns at once; ctx is not used by the
// loop (an OnStart context expires). It fails with ErrInvalid for bad options, with the
// registerer's error when the metric cannot be registered, and with ErrStarted when called
// again.
func (l *Loop) Start(context.Context) error {
	if err := l.validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return fmt.Errorf("%w: %s", ErrStarted, l.name)
	}
	if l.reg != nil {
		vec, err := errorCounter(l.reg)
		if err != nil {
			return fmt.Errorf("background loop %s: %w", l.name, err)
		}
		l.errors = vec.WithLabelValues(l.name)
	}
	l.started = true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go l.run(ctx, l.done)
	return nil
}

// Stop cancels the loop's context and waits for the running iteration (if any) to return.
// When ctx ends first it returns an error wrapping ctx.Err() at once. A loop never started,
// or already stopped, stops at once; Stop may be called more than once.
func (l *Loop) Stop(ctx context.Context) error {
	l.mu.Lock()
	l.started = true // a Start after Stop is refused
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("background loop %s: iteration still running when the stop context ended: %w", l.name, ctx.Err())
	}
}

// run calls the func until ctx ends or it returns ErrFinished.
func (l *Loop) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	wait := l.interval
	if l.immediate {
		wait = 0
	}
	failures := 0
	for {
		if Sleep(ctx, l.jittered(wait)) != nil {
			return
		}
		err := l.iterate(ctx)
		switch {
		case errors.Is(err, ErrFinished):
			l.log.Debug().Msg("background loop finished")
			return
		case err != nil && ctx.Err() != nil:
			l.log.Debug().Err(err).Msg("background loop iteration ended by stop")
			return
		case err != nil:
			failures++
			wait = l.retryWait(failures)
			if l.errors != nil {
				l.errors.Inc()
			}
			l.log.Error().Err(err).Int("failures", failures).Dur("retry_in", wait).Msg("background loop iteration failed; will retry")
		default:
			failures = 0
			wait = l.interval
		}
	}
}

// iterate runs the func once, turning a panic into an error.
func (l *Loop) iterate(ctx context.Context) (err error) {
	if l.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			l.log.Error().Str("stack", string(debug.Stack())).Msg("background loop iteration panicked")
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return l.fn(ctx)
}

// retryWait is the wait after the n-th consecutive failure.
func (l *Loop) retryWait(n int) time.Duration {
	if l.backoff <= 0 {
		return l.interval
	}
	d := l.backoff
	for i := 1; i < n && d < l.interval; i++ {
		d *= 2
	}
	return min(d, l.interval)
}

func (l *Loop) jittered(d time.Duration) time.Duration {
	if l.jitter == 0 || d <= 0 {
		return d
	}
	return d + time.Duration(rand.Float64()*l.jitter*float64(d))
}

// errorCounter registers the shared counter on reg, or returns the one already there.
func errorCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricErrors,
		Help: "Iterations of background loops that failed or panicked, by loop.",
	}, []string{"loop"})
	return promreg.Register(reg, vec)
}

// Sleep waits d, or less when ctx ends first; then it returns ctx.Err(). It is the wait for
// retries in loops and handlers, where a stop may be waiting: never time.Sleep there.
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
