package sqlbus

import (
	"sync"

	"github.com/stagebus/stagebus/database"
)

// hub wakes the readers of one database in this process when a topic gets messages, so that
// buses sharing the database (instances in one process, as in tests) see each other's
// publishes at once.
type hub struct {
	db   *database.DB
	refs int // guarded by hubsMu

	mu     sync.Mutex
	topics map[string]map[chan struct{}]struct{}
}

var (
	hubsMu sync.Mutex
	hubs   = map[*database.DB]*hub{}
)

// joinHub returns the database's hub, counting one more bus on it.
func joinHub(db *database.DB) *hub {
	hubsMu.Lock()
	defer hubsMu.Unlock()
	h := hubs[db]
	if h == nil {
		h = &hub{db: db, topics: map[string]map[chan struct{}]struct{}{}}
		hubs[db] = h
	}
	h.refs++
	return h
}

// leave counts one bus less; the last one forgets the hub.
func (h *hub) leave() {
	hubsMu.Lock()
	defer hubsMu.Unlock()
	h.refs--
	if h.refs == 0 {
		delete(hubs, h.db)
	}
}

// register returns a channel that receives (without blocking the sender, coalesced) when
// topic gets messages, and the function that unregisters it.
func (h *hub) register(topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	set := h.topics[topic]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		h.topics[topic] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(set, ch)
		if len(set) == 0 {
			delete(h.topics, topic)
		}
		h.mu.Unlock()
	}
}

// wake signals topic's readers.
func (h *hub) wake(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.topics[topic] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeAll signals every reader, e.g. after notifications may have been missed.
func (h *hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.topics {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
