package kafka

import "time"

// recentIDs remembers the event ids a reader handed out during the last window, so that a
// record written twice (kafka-go has no idempotent producer: a retried write can store a
// batch again) is handled once. It costs memory in proportion to the events of the window
// (about 100 bytes each). Not safe for concurrent use: one reader's fetch loop owns it.
type recentIDs struct {
	window time.Duration
	ids    map[string]struct{}
	order  []seenID // oldest first; order[head:] are the ids in ids
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
	r.order = append(r.order, seenID{id: id, at: now})
	return false
}

// expire forgets the ids seen before now-window.
func (r *recentIDs) expire(now time.Time) {
	limit := now.Add(-r.window)
	for r.head < len(r.order) && !r.order[r.head].at.After(limit) {
		delete(r.ids, r.order[r.head].id)
		r.order[r.head] = seenID{}
		r.head++
	}
	// Reuse the slice once its dead prefix is most of it.
	if r.head > 1024 && r.head*2 > len(r.order) {
		r.order = append(r.order[:0], r.order[r.head:]...)
		r.head = 0
	}
}
