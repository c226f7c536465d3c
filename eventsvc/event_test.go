package eventsvc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 10, InitialInterval: time.Second, MaxInterval: 10 * time.Second}
	tests := []struct {
		attempt  int
		rnd      float64
		want     time.Duration
		describe string
	}{
		{1, 0.5, time.Second, "first wait is the initial interval"},
		{2, 0.5, 2 * time.Second, "doubles"},
		{4, 0.5, 8 * time.Second, "keeps doubling"},
		{5, 0.5, 10 * time.Second, "capped"},
		{50, 0.5, 10 * time.Second, "stays capped"},
		{1, 0, 500 * time.Millisecond, "jitter down to half"},
		{1, 0.999, 1499 * time.Millisecond, "jitter up to one and a half"},
	}
	for _, tt := range tests {
		t.Run(tt.describe, func(t *testing.T) {
			require.Equal(t, tt.want.Milliseconds(), p.backoff(tt.attempt, tt.rnd).Milliseconds())
		})
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	t.Parallel()
	var p RetryPolicy
	p.SetDefaults()
	require.NoError(t, p.Validate())
	err := RetryPolicy{MaxAttempts: 0, InitialInterval: 0, MaxInterval: -1}.Validate()
	require.ErrorContains(t, err, "maxAttempts: must be between 1 and 100")
	require.ErrorContains(t, err, "initialInterval: must be positive")
	require.ErrorContains(t, err, "maxInterval: must be at least initialInterval")
}

func TestValidateTopic(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"github", "github.push", "bitbucketCloud.repo:push", "a_b-c"} {
		require.NoError(t, ValidateTopic(ok), ok)
	}
	for _, bad := range []string{"", "with space", "slash/topic", "ümlaut", string(make([]byte, 201))} {
		require.ErrorIs(t, ValidateTopic(bad), ErrInvalidEvent, bad)
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name  string
		ctx   context.Context
		event Event
		check func(t *testing.T, e Event)
	}{
		{
			name:  "fills id, time, correlation id and a new trace",
			ctx:   context.Background(),
			event: Event{Topic: "t"},
			check: func(t *testing.T, e Event) {
				require.Len(t, e.ID, 36)
				require.WithinDuration(t, time.Now(), e.Time, time.Minute)
				require.Equal(t, e.ID, e.Metadata[MetaCorrelationID], "a first event correlates to itself")
				require.True(t, validTraceparent(e.Metadata[MetaTraceparent]))
			},
		},
		{
			name:  "takes correlation and trace from the context",
			ctx:   ContextWithTraceparent(ContextWithCorrelationID(context.Background(), "c-1"), tp),
			event: Event{Topic: "t", ID: "e-1"},
			check: func(t *testing.T, e Event) {
				require.Equal(t, "e-1", e.ID)
				require.Equal(t, "c-1", e.Metadata[MetaCorrelationID])
				require.Equal(t, tp, e.Metadata[MetaTraceparent])
			},
		},
		{
			name:  "keeps the event's own",
			ctx:   ContextWithCorrelationID(context.Background(), "ctx"),
			event: Event{Topic: "t", Metadata: map[string]string{MetaCorrelationID: "own", MetaTraceparent: tp}},
			check: func(t *testing.T, e Event) {
				require.Equal(t, "own", e.Metadata[MetaCorrelationID])
				require.Equal(t, tp, e.Metadata[MetaTraceparent])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := len(tt.event.Metadata)
			e, err := Prepare(tt.ctx, tt.event)
			require.NoError(t, err)
			tt.check(t, e)
			require.Len(t, tt.event.Metadata, before, "the caller's map is not written")
		})
	}
	_, err := Prepare(context.Background(), Event{Topic: "t", Metadata: map[string]string{"stagebus-key": "x"}})
	require.ErrorContains(t, err, "reserved")
}

func TestTraceparent(t *testing.T) {
	t.Parallel()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	require.True(t, validTraceparent(tp))
	for _, bad := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "00-4bf92f3577b34da6a3ce929d0e0e4736x00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"} {
		require.False(t, validTraceparent(bad), bad)
	}
	child := childTraceparent(tp)
	require.True(t, validTraceparent(child))
	require.Equal(t, traceID(tp), traceID(child))
	require.NotEqual(t, tp, child)
	require.True(t, validTraceparent(childTraceparent("garbage")), "an invalid parent starts a new trace")
}

func FuzzTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("")
	f.Add("00-x-y-z")
	f.Fuzz(func(t *testing.T, tp string) {
		c := childTraceparent(tp)
		if !validTraceparent(c) {
			t.Fatalf("child %q of %q is not valid", c, tp)
		}
		if validTraceparent(tp) && traceID(c) != traceID(tp) {
			t.Fatalf("child %q left the trace of %q", c, tp)
		}
	})
}

func TestSubscriptionValidate(t *testing.T) {
	t.Parallel()
	h := func(context.Context, Event) error { return nil }
	tests := []struct {
		sub  Subscription
		want string
	}{
		{Subscription{Topics: []string{"t"}, Handler: h}, "needs an id"},
		{Subscription{ID: "bad id", Topics: []string{"t"}, Handler: h}, `subscription id "bad id"`},
		{Subscription{ID: "s", Handler: h}, "needs at least one topic"},
		{Subscription{ID: "s", Topics: []string{"a b"}, Handler: h}, "may only contain"},
		{Subscription{ID: "s", Topics: []string{"t"}}, "needs a handler"},
		{Subscription{ID: "s", Topics: []string{"t"}, Handler: h, Concurrency: -1}, "concurrency"},
		{Subscription{ID: "s", Topics: []string{"t"}, Handler: h, Retry: &RetryPolicy{}}, "retry: maxAttempts"},
	}
	for _, tt := range tests {
		require.ErrorContains(t, tt.sub.validate(), tt.want)
	}
}
