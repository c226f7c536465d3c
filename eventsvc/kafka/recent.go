package kafka

import "time"

// recentIDs remembers the event ids a reader handed out during the last window, so that a
// record written twice (kafka-go has no idempotent producer: a retried write can store a
// batch again) is handled once. It costs memory in proportion to the events of the window
// (about 100 bytes each). Not safe for concurrent use: one reader's fetch loop owns it.
type recentIDs struct {
	window time.Duration
	at     map[string]time.Time
	order  []seenID // oldest first; order[head:] are live
	head   int
}

type seenID struct {
	id string
	at time.Time
}

func newRecentIDs(window time.Duration) *recentIDs {
	return &recentIDs{window: window, at: map[string]time.Time{}}
}

// seen reports whether id was handed out within the window before now, and remembers it.
func (r *recentIDs) seen(id string, now time.Time) bool {
	r.expire(now)
	if _, ok := r.at[id]; ok {
		return true
	}
	r.at[id] = now
	r.order = append(r.order, seenID{id: id, at: now})
	return false
}

// expire forgets the ids seen before now-window.
func (r *recentIDs) expire(now time.Time) {
	limit := now.Add(-r.window)
	for r.head < len(r.order) && !r.order[r.head].at.After(limit) {
		e := r.order[r.head]
		if r.at[e.id].Equal(e.at) {
			delete(r.at, e.id)
		}
		r.order[r.head] = seenID{}
		r.head++
	}
	// Reuse the slice once its dead prefix is most of it.
	if r.head > 1024 && r.head*2 > len(r.order) {
		r.order = append(r.order[:0], r.order[r.head:]...)
		r.head = 0
	}
}

// len is how many ids are remembered.
func (r *recentIDs) len() int { return len(r.at) }
