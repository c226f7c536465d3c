package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// step is one sighting of an id, after a time since t0, and whether it was seen before.
type step struct {
	id    string
	after time.Duration
	seen  bool
}

func TestRecentIDs(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "first and second sight", steps: []step{{"a", 0, false}, {"b", time.Second, false}, {"a", 2 * time.Second, true}, {"b", 3 * time.Second, true}}},
		{name: "forgotten after the window", steps: []step{{"a", 0, false}, {"a", time.Minute, false}, {"a", time.Minute + time.Second, true}}},
		{name: "kept within the window", steps: []step{{"a", 0, false}, {"a", time.Minute - time.Nanosecond, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecentIDs(time.Minute)
			for i, s := range tt.steps {
				require.Equal(t, s.seen, r.seen(s.id, t0.Add(s.after)), "step %d: %s at +%s", i, s.id, s.after)
			}
		})
	}
}

// TestRecentIDsStayBounded: memory follows the window, not the stream.
func TestRecentIDsStayBounded(t *testing.T) {
	r := newRecentIDs(time.Second)
	t0 := time.Unix(1000, 0)
	for i := range 100_000 {
		require.False(t, r.seen(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Millisecond)))
	}
	require.LessOrEqual(t, len(r.ids), 1000)
	held := -r.head
	for _, b := range r.blocks {
		held += len(b)
	}
	require.Equal(t, len(r.ids), held, "the queue holds what the set holds")
	require.LessOrEqual(t, len(r.blocks), 2, "expired blocks are dropped")
}
