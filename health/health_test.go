package health_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/health"
)

func TestRun(t *testing.T) {
	t.Parallel()
	ok := health.Check{Name: "ok", Check: func(context.Context) error { return nil }}
	down := health.Check{Name: "db", Check: func(context.Context) error { return errors.New("connection refused") }}
	stuck := health.Check{Name: "bus", Check: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	tests := []struct {
		name     string
		checks   []health.Check
		canceled bool // the caller's context ends before the checks run
		want     map[string]string
	}{
		{"none", nil, false, map[string]string{}},
		{"all pass", []health.Check{ok, ok}, false, map[string]string{}},
		{"one fails", []health.Check{ok, down}, false, map[string]string{"db": "connection refused"}},
		{"a stuck check ends with the caller's context", []health.Check{stuck, down}, true, map[string]string{"bus": "context canceled", "db": "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			if tt.canceled {
				cancel()
			}
			defer cancel()
			require.Equal(t, tt.want, health.Run(ctx, tt.checks))
		})
	}
}

func ExampleRun() {
	checks := []health.Check{
		{Name: "database", Check: func(context.Context) error { return nil }},
		{Name: "events", Check: func(context.Context) error { return errors.New("broker unreachable") }},
	}
	fmt.Println(health.Run(context.Background(), checks))
	// Output: map[events:broker unreachable]
}
