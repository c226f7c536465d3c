package kafka

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTracker(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	for _, o := range []int64{10, 11, 13, 20} { // gaps: compaction, transaction markers
		require.True(t, tr.receive(0, o))
	}
	require.True(t, tr.receive(1, 5))

	require.False(t, tr.ack(0, 11), "11 acked before 10: nothing to commit yet")
	require.Empty(t, tr.toCommit())
	require.True(t, tr.ack(0, 10))
	require.Equal(t, map[int]int64{0: 11}, tr.toCommit())
	tr.committed(map[int]int64{0: 11})
	require.Empty(t, tr.toCommit())

	require.False(t, tr.receive(0, 10), "done already: a refetch after a rebalance is skipped")
	require.False(t, tr.receive(0, 13), "still in flight: not handed out twice")
	require.True(t, tr.ack(0, 13))
	require.True(t, tr.ack(0, 20))
	require.True(t, tr.ack(1, 5))
	require.Equal(t, map[int]int64{0: 20, 1: 5}, tr.toCommit())
	require.False(t, tr.ack(0, 20), "a second ack is ignored")
	require.False(t, tr.ack(2, 1), "an offset never received is ignored")
	require.True(t, tr.receive(0, 21))
}

// TestTrackerLongRun: the watermark follows acknowledgements in any order over many offsets,
// while the tracker reuses the room of what the watermark passed.
func TestTrackerLongRun(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	const window = 50
	next := int64(0)
	for round := range 100 {
		for range window {
			require.True(t, tr.receive(0, next))
			next++
		}
		first := next - window
		for o := next - 1; o > first; o-- { // newest first: the watermark waits for the first
			require.False(t, tr.ack(0, o))
		}
		require.True(t, tr.ack(0, first), "round %d", round)
		require.Equal(t, map[int]int64{0: next - 1}, tr.toCommit())
		require.False(t, tr.receive(0, first), "passed by the watermark")
	}
	s := tr.partitions[0]
	require.LessOrEqual(t, cap(s.pending), 4*window, "room is reused, not grown")
}
