package kafka

import "time"

// recentChunk is how many sightings one block of recentIDs' queue holds.
const recentChunk = 1024

// recentIDs remembers the event ids a reader handed out during the last window, so that a
// record written twice (kafka-go has no idempotent producer: a retried write can store a
// batch again) is handled once. It costs memory in proportion to the events of the window
// (about 100 bytes each). Not safe for concurrent use: one reader's fetch loop owns it.
type recentIDs struct {
	window time.Duration
	ids    map[string]struct{}
	// blocks queue the sightings, oldest first, in blocks of recentChunk, so that the queue
	// neither copies itself as it grows nor keeps what expired: blocks[0][head:] and the
	// blocks after it are the ids in ids.
	blocks [][]seenID
	head   int
}

type seenID struct {
	id string
	at time.Time
}

func newRecentIDs(window time.Duration) *recentIDs {
	return &recentIDs{window: window, ids: map[string]struct{}{}}
}

// seen reports whether id was handed out within the window before now, and remembers it.
func (r *recentIDs) seen(id string, now time.Time) bool {
	r.expire(now)
	if _, ok := r.ids[id]; ok {
		return true
	}
	r.ids[id] = struct{}{}
	if n := len(r.blocks); n == 0 || len(r.blocks[n-1]) == recentChunk {
		r.blocks = append(r.blocks, make([]seenID, 0, recentChunk))
	}
	last := &r.blocks[len(r.blocks)-1]
	*last = append(*last, seenID{id: id, at: now})
	return false
}

// expire forgets the ids seen before now-window.
func (r *recentIDs) expire(now time.Time) {
	limit := now.Add(-r.window)
	for len(r.blocks) > 0 {
		b := r.blocks[0]
		for r.head < len(b) && !b[r.head].at.After(limit) {
			delete(r.ids, b[r.head].id)
			b[r.head] = seenID{}
			r.head++
		}
		if r.head < len(b) {
			return // the oldest left is within the window
		}
		if len(b) < recentChunk { // the last block, all expired: fill it again
			r.blocks[0], r.head = b[:0], 0
			return
		}
		r.blocks[0] = nil
		r.blocks, r.head = r.blocks[1:], 0
	}
}
