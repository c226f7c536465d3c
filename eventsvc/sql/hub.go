package sqlbus

import (
	"context"
	"sync"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
)

// hub wakes the readers of one database in this process when a topic gets messages, so that
// buses sharing the database (instances in one process, as in tests) see each other's
// publishes at once. On PostgreSQL it keeps the one LISTEN connection of the process for that
// database, which wakes the readers on other instances' publishes.
type hub struct {
	db       *database.DB
	log      zerolog.Logger
	refs     int // guarded by hubsMu
	stop     context.CancelFunc
	listened chan struct{} // closed when the LISTEN loop has ended

	mu     sync.Mutex
	topics map[string]map[chan struct{}]struct{}
}

var (
	hubsMu sync.Mutex
	hubs   = map[*database.DB]*hub{}
)

// joinHub returns the database's hub, counting one more bus on it; the first starts the
// LISTEN loop on PostgreSQL.
func joinHub(db *database.DB, log zerolog.Logger) *hub {
	hubsMu.Lock()
	defer hubsMu.Unlock()
	h := hubs[db]
	if h == nil {
		ctx, stop := context.WithCancel(context.Background())
		h = &hub{db: db, log: log, stop: stop, listened: make(chan struct{}), topics: map[string]map[chan struct{}]struct{}{}}
		hubs[db] = h
		go func() {
			defer close(h.listened)
			if db.Dialect() == database.Postgres {
				h.listen(ctx)
			}
		}()
	}
	h.refs++
	return h
}

// leave counts one bus less; the last one stops the LISTEN loop and forgets the hub.
func (h *hub) leave() {
	hubsMu.Lock()
	h.refs--
	last := h.refs == 0
	if last {
		delete(hubs, h.db)
	}
	hubsMu.Unlock()
	if last {
		h.stop()
		<-h.listened
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

// anyTopic registers for the wake-ups of every topic (the outbox's relay).
const anyTopic = "\x1fany"

// wake signals topic's readers, and those registered for anyTopic.
func (h *hub) wake(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range [2]string{topic, anyTopic} {
		for ch := range h.topics[name] {
			select {
			case ch <- struct{}{}:
			default:
			}
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
