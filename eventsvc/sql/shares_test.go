package sqlbus

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShares: a fetch divides the room left in the in-flight window among the partitions,
// at most fetchBatch each, the remainder rotating with turn.
func TestShares(t *testing.T) {
	tests := []struct {
		name        string
		n, room, tu int
		want        []int
	}{
		{"no partitions", 0, 1000, 0, []int{}},
		{"window full", 3, 0, 0, []int{0, 0, 0}},
		{"window overfull", 2, -5, 0, []int{0, 0}},
		{"room for everything", 8, 1000, 0, []int{100, 100, 100, 100, 100, 100, 100, 100}},
		{"one partition", 1, 1000, 3, []int{100}},
		{"tight window", 4, 10, 0, []int{3, 3, 2, 2}},
		{"tight window, next turn", 4, 10, 1, []int{2, 3, 3, 2}},
		{"tight window, turn wraps", 4, 10, 7, []int{3, 2, 2, 3}},
		{"less room than partitions", 8, 3, 6, []int{1, 0, 0, 0, 0, 0, 1, 1}},
		{"capped, remainder dropped", 3, 302, 0, []int{100, 100, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shares(tt.n, tt.room, tt.tu)
			require.Equal(t, tt.want, got)
			total := 0
			for _, l := range got {
				total += l
			}
			require.LessOrEqual(t, total, max(tt.room, 0), "more than the window allows")
		})
	}
}
