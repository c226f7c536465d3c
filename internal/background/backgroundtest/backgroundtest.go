// Package backgroundtest checks the stop contract of components that run background work
// (see package background): Stop cancels the work under way and returns within its context.
package backgroundtest

import (
	"context"
	"testing"
	"time"
)

// StopTimeout is the stop context RequireStopCancels gives Stop, as fx gives OnStop hooks a
// deadline.
const StopTimeout = time.Second

// RequireStopCancels calls stop with a context of [StopTimeout] while the component's work is
// blocked (the caller arranges that), and requires stop to return nil — the work ended because
// it was cancelled. If stop has not returned guard after its context ended, the test fails
// naming what: the component waits for its work's own timeout instead of cancelling it. Choose
// guard well below that timeout; it is a hang guard, not a speed assertion.
func RequireStopCancels(t testing.TB, what string, stop func(context.Context) error, guard time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- stop(ctx) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("%s.Stop: %v; the work should end when it is cancelled", what, err)
		}
	case <-time.After(StopTimeout + guard):
		t.Fatalf("%s.Stop is still waiting for its work %s after its stop context ended", what, guard)
	}
}
