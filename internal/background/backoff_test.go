package background

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		backoff  time.Duration
		failures int
		want     time.Duration
	}{
		{"no backoff waits the interval", 0, 1, time.Hour},
		{"first failure", time.Minute, 1, time.Minute},
		{"doubles", time.Minute, 3, 4 * time.Minute},
		{"capped by the interval", time.Minute, 10, time.Hour},
		{"many failures do not overflow", time.Minute, 1000, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := New("x", time.Hour, nil, WithBackoff(tt.backoff))
			require.Equal(t, tt.want, l.retryWait(tt.failures))
		})
	}
}

func TestJitter(t *testing.T) {
	t.Parallel()
	l := New("x", time.Hour, nil, WithJitter(0.1))
	for range 100 {
		d := l.jittered(time.Minute)
		require.GreaterOrEqual(t, d, time.Minute)
		require.LessOrEqual(t, d, time.Minute+6*time.Second)
	}
	require.Equal(t, time.Duration(0), l.jittered(0))
}
