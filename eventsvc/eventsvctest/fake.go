package eventsvctest

import (
	"context"
	"database/sql"
	"slices"
	"sync"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/eventsvc"
)

// Recorder is a fake bus for unit tests of modules: Publish records events (prepared as the
// real bus would, see eventsvc.Prepare) and Deliver calls a subscription's handler directly.
// It is safe for concurrent use.
type Recorder struct {
	// Err, when set, is returned by Publish (and nothing is recorded), to test how a module
	// copes with an unavailable bus.
	Err error
	// Logger is given to handlers (zerolog.Ctx); disabled when zero.
	Logger zerolog.Logger

	mu        sync.Mutex
	published []eventsvc.Event
}

var (
	_ eventsvc.BatchPublisher = (*Recorder)(nil)
	_ eventsvc.TxPublisher    = (*Recorder)(nil)
)

// Publish records e.
func (r *Recorder) Publish(ctx context.Context, e eventsvc.Event) error {
	return r.PublishBatch(ctx, e)
}

// PublishBatch records the events in order, all or none.
func (r *Recorder) PublishBatch(ctx context.Context, events ...eventsvc.Event) error {
	if r.Err != nil {
		return r.Err
	}
	prepared, err := eventsvc.PrepareBatch(ctx, events)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.published = append(r.published, prepared...)
	r.mu.Unlock()
	return nil
}

// PublishTx prepares the events now and records them when the returned committed function
// is called — after the caller's commit, as the real bus makes them visible — so that a test
// sees no event of a transaction that was rolled back. tx is not used.
func (r *Recorder) PublishTx(ctx context.Context, _ *sql.Tx, events ...eventsvc.Event) (func(), error) {
	if r.Err != nil {
		return nil, r.Err
	}
	prepared, err := eventsvc.PrepareBatch(ctx, events)
	if err != nil {
		return nil, err
	}
	return func() {
		r.mu.Lock()
		r.published = append(r.published, prepared...)
		r.mu.Unlock()
	}, nil
}

// Published returns the recorded events in publish order, only those of the given topics
// when any are named.
func (r *Recorder) Published(topics ...string) []eventsvc.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []eventsvc.Event
	for _, e := range r.published {
		if len(topics) == 0 || slices.Contains(topics, e.Topic) {
			out = append(out, e)
		}
	}
	return out
}

// Reset forgets the recorded events.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.published = nil
	r.mu.Unlock()
}

// Deliver calls the subscription's handler once with e, in a context built as the bus builds
// it (correlation id, traceparent, event, logger), and returns the handler's error. e is
// prepared first, so an event literal with only a topic and a payload is enough.
func (r *Recorder) Deliver(ctx context.Context, sub eventsvc.Subscription, e eventsvc.Event) error {
	e, err := eventsvc.Prepare(ctx, e)
	if err != nil {
		return err
	}
	return sub.Handler(eventsvc.NewHandlerContext(ctx, e, r.Logger.With().Str("subscription", sub.ID).Logger()), e)
}

// DeadLetters is a recording dead-letter store for tests.
type DeadLetters struct {
	// Err, when set, is returned by Add (and nothing is recorded).
	Err error

	mu      sync.Mutex
	records []eventsvc.DeadLetter
}

var _ eventsvc.DeadLetterStore = (*DeadLetters)(nil)

// Add records d.
func (d *DeadLetters) Add(_ context.Context, dl eventsvc.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return d.Err
	}
	d.records = append(d.records, dl)
	return nil
}

// Records returns what was added, in order.
func (d *DeadLetters) Records() []eventsvc.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.records)
}
