package kafka

import (
	"hash/maphash"
	"time"
)

// recentChunk is how many sightings one block of recentIDs' queue holds.
const recentChunk = 1024

// recentIDs remembers the event ids a reader handed out during the last window, so that a
// record written twice (kafka-go has no idempotent producer: a retried write can store a
// batch again) is handled once. It keeps a 128-bit hash of each id rather than the id — two
// distinct ids of one window sharing both halves is beyond any practical chance — so that
// its memory, about 60 bytes an event, holds no pointers for the garbage collector to scan.
// Not safe for concurrent use: one reader's fetch loop owns it.
type recentIDs struct {
	window time.Duration
	seeds  [2]maphash.Seed
	ids    map[idHash]struct{}
	// blocks queue the sightings, oldest first, in blocks of recentChunk, so that the queue
	// neither copies itself as it grows nor keeps what expired: blocks[0][head:] and the
	// blocks after it are the ids in ids.
	blocks [][]seenID
	head   int
}

type idHash [2]uint64

type seenID struct {
	id idHash
	at int64 // Unix nanoseconds
}

func newRecentIDs(window time.Duration) *recentIDs {
	return &recentIDs{window: window, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, ids: map[idHash]struct{}{}}
}

// seen reports whether id was handed out within the window before now, and remembers it.
func (r *recentIDs) seen(id string, now time.Time) bool {
	at := now.UnixNano()
	r.expire(at)
	h := idHash{maphash.String(r.seeds[0], id), maphash.String(r.seeds[1], id)}
	if _, ok := r.ids[h]; ok {
		return true
	}
	r.ids[h] = struct{}{}
	if n := len(r.blocks); n == 0 || len(r.blocks[n-1]) == recentChunk {
		r.blocks = append(r.blocks, make([]seenID, 0, recentChunk))
	}
	last := &r.blocks[len(r.blocks)-1]
	*last = append(*last, seenID{id: h, at: at})
	return false
}

// expire forgets the ids seen before now-window (Unix nanoseconds).
func (r *recentIDs) expire(now int64) {
	limit := now - int64(r.window)
	for len(r.blocks) > 0 {
		b := r.blocks[0]
		for r.head < len(b) && b[r.head].at <= limit {
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
