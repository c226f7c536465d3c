package background_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/stagebus/stagebus/internal/background"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a log sink safe for the loop's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoop covers the contract: what an iteration does decides what Stop, the metric and the
// log show. Every case runs its loop with a tiny interval and waits on channels, never on
// time.
func TestLoop(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name string
		// iteration is the loop's func; call counts from 1; reached is signalled by the
		// iteration the case waits for before it stops the loop.
		iteration func(ctx context.Context, call int, reached chan<- struct{}, release <-chan struct{}) error
		// stopCtx returns the context given to Stop.
		stopCtx    func() (context.Context, context.CancelFunc)
		wantStop   error // errors.Is target; nil means Stop returns nil
		wantErrors float64
		wantLog    []string
	}{
		{
			name: "stop during an iteration cancels its context and waits for it",
			iteration: func(ctx context.Context, _ int, reached chan<- struct{}, _ <-chan struct{}) error {
				reached <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			},
			stopCtx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
		},
		{
			name: "stop context ending first is returned while the iteration still runs",
			iteration: func(_ context.Context, _ int, reached chan<- struct{}, release <-chan struct{}) error {
				reached <- struct{}{}
				<-release // ignores its context: Stop must not wait for it
				return nil
			},
			stopCtx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, func() {}
			},
			wantStop: context.Canceled,
		},
		{
			name: "an error is logged and counted and the loop goes on",
			iteration: func(ctx context.Context, call int, reached chan<- struct{}, _ <-chan struct{}) error {
				if call == 1 {
					return boom
				}
				reached <- struct{}{}
				<-ctx.Done()
				return nil
			},
			stopCtx:    func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			wantErrors: 1,
			wantLog:    []string{`"loop":"test"`, `"error":"boom"`, "background loop iteration failed"},
		},
		{
			name: "a panic is recovered, logged with its stack and counted, and the loop goes on",
			iteration: func(ctx context.Context, call int, reached chan<- struct{}, _ <-chan struct{}) error {
				if call == 1 {
					panic("kaboom")
				}
				reached <- struct{}{}
				<-ctx.Done()
				return nil
			},
			stopCtx:    func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			wantErrors: 1,
			wantLog:    []string{"background loop iteration panicked", `"stack":`, "panic: kaboom"},
		},
		{
			name: "an error caused by stop is not counted",
			iteration: func(ctx context.Context, _ int, reached chan<- struct{}, _ <-chan struct{}) error {
				reached <- struct{}{}
				<-ctx.Done()
				return boom
			},
			stopCtx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			var logs syncBuffer
			reached := make(chan struct{})
			release := make(chan struct{})
			var calls atomic.Int32
			l := background.New("test", time.Millisecond, func(ctx context.Context) error {
				return tt.iteration(ctx, int(calls.Add(1)), reached, release)
			}, background.WithRegisterer(reg), background.WithLogger(zerolog.New(&logs)), background.Immediately())
			require.NoError(t, l.Start(context.Background()))
			<-reached
			ctx, cancel := tt.stopCtx()
			defer cancel()
			err := l.Stop(ctx)
			if tt.wantStop == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantStop)
				close(release)
				require.NoError(t, l.Stop(context.Background()), "a second Stop waits for the iteration")
			}
			require.Equal(t, tt.wantErrors, errorsOf(t, reg))
			for _, s := range tt.wantLog {
				require.Contains(t, logs.String(), s)
			}
		})
	}
}

// errorsOf returns the value of the error series of loop "test" on reg (0 when absent).
func errorsOf(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != background.MetricErrors {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "loop" && l.GetValue() == "test" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestLoopFinished(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	finished := make(chan struct{})
	l := background.New("finished", time.Millisecond, func(context.Context) error {
		if calls.Add(1) == 3 {
			close(finished)
			return background.ErrFinished
		}
		return nil
	}, background.Immediately())
	require.NoError(t, l.Start(context.Background()))
	<-finished
	require.NoError(t, l.Stop(context.Background()))
	require.Equal(t, int32(3), calls.Load(), "no iteration after ErrFinished")
}

func TestLoopWaitsAnIntervalBeforeTheFirstRun(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	l := background.New("later", time.Hour, func(context.Context) error { calls.Add(1); return nil })
	require.NoError(t, l.Start(context.Background()))
	require.NoError(t, l.Stop(context.Background()))
	require.Zero(t, calls.Load(), "without Immediately the first run waits one interval")
}

func TestLoopStartErrors(t *testing.T) {
	t.Parallel()
	noop := func(context.Context) error { return nil }
	tests := []struct {
		name string
		loop *background.Loop
		want error
	}{
		{"no name", background.New("", time.Second, noop), background.ErrInvalid},
		{"no func", background.New("x", time.Second, nil), background.ErrInvalid},
		{"zero interval", background.New("x", 0, noop), background.ErrInvalid},
		{"jitter above one", background.New("x", time.Second, noop, background.WithJitter(2)), background.ErrInvalid},
		{"negative timeout", background.New("x", time.Second, noop, background.WithTimeout(-1)), background.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.ErrorIs(t, tt.loop.Start(context.Background()), tt.want)
			require.NoError(t, tt.loop.Stop(context.Background()), "a loop that did not start stops at once")
		})
	}

	t.Run("twice, and after stop", func(t *testing.T) {
		t.Parallel()
		l := background.New("x", time.Hour, noop)
		require.NoError(t, l.Start(context.Background()))
		require.ErrorIs(t, l.Start(context.Background()), background.ErrStarted)
		require.NoError(t, l.Stop(context.Background()))
		require.ErrorIs(t, l.Start(context.Background()), background.ErrStarted)
	})

	t.Run("a registry holding another metric of the name", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: background.MetricErrors, Help: "x"}))
		err := background.New("x", time.Hour, noop, background.WithRegisterer(reg)).Start(context.Background())
		require.ErrorContains(t, err, background.MetricErrors)
	})
}

// TestLoopsShareTheCounter: several loops count on one registry, each under its name.
func TestLoopsShareTheCounter(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	var loops []*background.Loop
	for _, name := range []string{"a", "b"} {
		failed := make(chan struct{})
		var once sync.Once
		l := background.New(name, time.Hour, func(context.Context) error {
			once.Do(func() { close(failed) })
			return errors.New("no")
		}, background.WithRegisterer(reg), background.Immediately())
		require.NoError(t, l.Start(context.Background()))
		<-failed
		loops = append(loops, l)
	}
	for _, l := range loops {
		require.NoError(t, l.Stop(context.Background()))
	}
	n, err := testutil.GatherAndCount(reg, background.MetricErrors)
	require.NoError(t, err)
	require.Equal(t, 2, n, "one series per loop")
}

// TestLoopTimeout: an iteration's context ends at its timeout; that is an error like another.
func TestLoopTimeout(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	l := background.New("slow", time.Hour, func(ctx context.Context) error {
		<-ctx.Done()
		got <- ctx.Err()
		return ctx.Err()
	}, background.Immediately(), background.WithTimeout(time.Millisecond))
	require.NoError(t, l.Start(context.Background()))
	require.ErrorIs(t, <-got, context.DeadlineExceeded)
	require.NoError(t, l.Stop(context.Background()))
}

func TestLoopHook(t *testing.T) {
	t.Parallel()
	ran := make(chan struct{})
	var once sync.Once
	l := background.New("hooked", time.Hour, func(ctx context.Context) error {
		once.Do(func() { close(ran) })
		<-ctx.Done()
		return nil
	}, background.Immediately())
	app := fxtest.New(t, fx.Invoke(func(lc fx.Lifecycle) { lc.Append(l.Hook()) }))
	app.RequireStart()
	<-ran
	app.RequireStop()
}

func TestSleep(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, background.Sleep(ctx, time.Hour), context.Canceled)
	require.NoError(t, background.Sleep(context.Background(), time.Microsecond))
	require.NoError(t, background.Sleep(context.Background(), 0))
}
