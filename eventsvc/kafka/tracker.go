package kafka

import "sync"

// tracker follows, per partition, the offsets a reader has handed out and which of them were
// acknowledged, to commit only offsets below which everything was acknowledged. Kafka offsets
// may have gaps (compaction, transaction markers), so "below" means among the offsets
// received.
type tracker struct {
	mu         sync.Mutex
	partitions map[int]*partitionState
}

type partitionState struct {
	pending   []int64        // received, not yet passed by the watermark, in receive order
	inFlight  map[int64]bool // received and not acknowledged
	acked     map[int64]bool // acknowledged but not yet passed by the watermark
	done      int64          // highest offset with everything received up to it acknowledged
	committed int64          // highest offset committed (done of the last successful commit)
}

func newTracker() *tracker { return &tracker{partitions: map[int]*partitionState{}} }

func (t *tracker) state(p int) *partitionState {
	s := t.partitions[p]
	if s == nil {
		s = &partitionState{inFlight: map[int64]bool{}, acked: map[int64]bool{}, done: -1, committed: -1}
		t.partitions[p] = s
	}
	return s
}

// receive records a fetched offset. It returns false for an offset that is done already or
// still being handled — a reader fetches again from the last commit after a rebalance — so that
// it is not handed out twice.
func (t *tracker) receive(p int, o int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(p)
	if o <= s.done || s.inFlight[o] || s.acked[o] {
		return false
	}
	s.inFlight[o] = true
	s.pending = append(s.pending, o)
	return true
}

// ack records an acknowledged offset and reports whether the partition's watermark moved.
func (t *tracker) ack(p int, o int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(p)
	if !s.inFlight[o] {
		return false
	}
	delete(s.inFlight, o)
	s.acked[o] = true
	moved := false
	for len(s.pending) > 0 && s.acked[s.pending[0]] {
		delete(s.acked, s.pending[0])
		if s.pending[0] > s.done {
			s.done = s.pending[0]
		}
		s.pending = s.pending[1:]
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
