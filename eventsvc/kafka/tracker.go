package kafka

import (
	"slices"
	"sync"
)

// tracker follows, per partition, the offsets a reader has handed out and which of them were
// acknowledged, to commit only offsets below which everything was acknowledged. Kafka offsets
// may have gaps (compaction, transaction markers), so "below" means among the offsets
// received.
type tracker struct {
	mu         sync.Mutex
	partitions map[int]*partitionState
}

type partitionState struct {
	// pending are the offsets received and not yet passed by the watermark, in increasing
	// order (a reader reads a partition in order and receive drops what it has seen), with
	// whether each was acknowledged: pending[head:] are live.
	pending   []pendingOffset
	head      int
	done      int64 // highest offset with everything received up to it acknowledged
	committed int64 // highest offset committed (done of the last successful commit)
}

type pendingOffset struct {
	offset int64
	acked  bool
}

func newTracker() *tracker { return &tracker{partitions: map[int]*partitionState{}} }

func (t *tracker) state(p int) *partitionState {
	s := t.partitions[p]
	if s == nil {
		s = &partitionState{done: -1, committed: -1}
		t.partitions[p] = s
	}
	return s
}

// find returns the index in s.pending of offset o, or false.
func (s *partitionState) find(o int64) (int, bool) {
	live := s.pending[s.head:]
	i, ok := slices.BinarySearchFunc(live, o, func(e pendingOffset, o int64) int {
		switch {
		case e.offset < o:
			return -1
		case e.offset > o:
			return 1
		}
		return 0
	})
	return s.head + i, ok
}

// receive records a fetched offset. It returns false for an offset that is done already or
// still being handled — a reader fetches again from the last commit after a rebalance — so that
// it is not handed out twice.
func (t *tracker) receive(p int, o int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(p)
	if o <= s.done {
		return false
	}
	if n := len(s.pending); n > s.head && o <= s.pending[n-1].offset {
		return false // in flight or acknowledged: offsets of a partition are read in order
	}
	if s.head > 0 && s.head*2 >= len(s.pending) { // reuse the passed prefix's room
		s.pending = append(s.pending[:0], s.pending[s.head:]...)
		s.head = 0
	}
	s.pending = append(s.pending, pendingOffset{offset: o})
	return true
}

// ack records an acknowledged offset and reports whether the partition's watermark moved.
func (t *tracker) ack(p int, o int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.partitions[p]
	if s == nil {
		return false
	}
	i, ok := s.find(o)
	if !ok || s.pending[i].acked {
		return false
	}
	s.pending[i].acked = true
	moved := false
	for s.head < len(s.pending) && s.pending[s.head].acked {
		s.done = max(s.done, s.pending[s.head].offset)
		s.head++
		moved = true
	}
	return moved
}

// toCommit returns, per partition, the done offset not yet committed.
func (t *tracker) toCommit() map[int]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int]int64{}
	for p, s := range t.partitions {
		if s.done > s.committed {
			out[p] = s.done
		}
	}
	return out
}

// committed records a successful commit.
func (t *tracker) committed(offsets map[int]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, o := range offsets {
		if s := t.partitions[p]; s != nil && o > s.committed {
			s.committed = o
		}
	}
}
