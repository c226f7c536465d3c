package eventsvc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// TxPublisher publishes events as part of a database transaction (a transactional outbox):
// a module's writes and the events that announce them are kept together or not at all, and
// an outage of the bus loses none of them. *Service implements it, and so does the recording
// fake in eventsvctest.
type TxPublisher interface {
	Publisher
	// PublishTx stores events in tx, a transaction of the shared database. They are published
	// once tx commits, and never if it rolls back. Call it last in the transaction: on
	// PostgreSQL it takes the lock that orders every publish until the commit. After a
	// successful commit call committed, which wakes the readers at once (without it they find
	// the events within their poll interval).
	PublishTx(ctx context.Context, tx *sql.Tx, events ...Event) (committed func(), err error)
}

// ErrNoOutbox is returned by [Service.PublishTx] when neither the backend nor an outbox can
// store events in a transaction.
var ErrNoOutbox = errors.New("the events bus has no outbox: publishing in a transaction needs the SQL bus module")

// TxBackend is a Backend (or an [Outbox]) that stores messages in a transaction of the
// shared database.
type TxBackend interface {
	// PublishTx stores batch in tx; the messages are on the bus once tx commits. committed
	// wakes their readers; it is called only after a successful commit.
	PublishTx(ctx context.Context, tx *sql.Tx, batch []Outgoing) (committed func(), err error)
}

// Outbox keeps messages in the database until a relay has published them on another backend:
// publishes are durable — and may be atomic with the caller's writes — whether or not that
// backend is reachable. The SQL bus provides it ([OutboxFactory]).
type Outbox interface {
	BatchBackend
	OnceBackend
	TxBackend
	// Start connects the store; it is called once, before any publish.
	Start(ctx context.Context) error
	// Relay starts publishing the stored messages to publish, in the order they were
	// stored, from one instance at a time; a message is marked sent once publish returned
	// nil for it, and retried otherwise (so it may be published more than once, never
	// skipped). It runs until Close.
	Relay(publish func(ctx context.Context, batch []Outgoing) error) error
	// Lag reports what the relay has not published yet.
	Lag(ctx context.Context) (OutboxLag, error)
	// Health reports whether the store's database answers.
	Health(ctx context.Context) error
	// Close stops the relay and releases the store; publishes fail afterwards.
	Close() error
}

// OutboxLag is what an outbox's relay has still to publish.
type OutboxLag struct {
	// Messages stored and not yet published (a store may stop counting at a large bound).
	Messages int64
	// Oldest is the age of the oldest of them (zero when there are none).
	Oldest time.Duration
}

// OutboxFactory makes the outbox; New is called at most once, by the backend or service that
// needs one.
type OutboxFactory struct {
	New func() (Outbox, error)
}

// Detailer is implemented by backends with more to say in the readiness report than up or
// down (an outbox's lag, a broker that is unreachable while publishes are still accepted).
type Detailer interface {
	Detail(ctx context.Context) string
}

// Outboxed puts outbox in front of target: publishes are stored in the outbox (Publish,
// PublishBatch and PublishOnce durably; PublishTx in the caller's transaction) and relayed to
// target, whose subscribers deliver them. Health is the outbox's: while target is down,
// publishes are still accepted and wait in the outbox, which Detail reports.
func Outboxed(outbox Outbox, target Backend) Backend {
	return &outboxed{outbox: outbox, target: target}
}

type outboxed struct {
	outbox Outbox
	target Backend
}

var (
	_ BatchBackend = (*outboxed)(nil)
	_ OnceBackend  = (*outboxed)(nil)
	_ TxBackend    = (*outboxed)(nil)
	_ Detailer     = (*outboxed)(nil)
)

// Start starts the target, then the outbox and its relay to the target.
func (o *outboxed) Start(ctx context.Context) error {
	if err := o.target.Start(ctx); err != nil {
		return err
	}
	if err := startOutbox(ctx, o.outbox, o.target); err != nil {
		return errors.Join(err, o.target.Close())
	}
	return nil
}

// startOutbox starts outbox and its relay to target.
func startOutbox(ctx context.Context, outbox Outbox, target Backend) error {
	if err := outbox.Start(ctx); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := outbox.Relay(publishTo(target)); err != nil {
		return errors.Join(fmt.Errorf("outbox relay: %w", err), outbox.Close())
	}
	return nil
}

// publishTo returns how a relay publishes a batch on target: in one step when target is a
// BatchBackend, else message by message.
func publishTo(target Backend) func(ctx context.Context, batch []Outgoing) error {
	if bb, ok := target.(BatchBackend); ok {
		return bb.PublishBatch
	}
	pub := target.Publisher()
	return func(ctx context.Context, batch []Outgoing) error {
		for _, o := range batch {
			o.Message.SetContext(ctx)
			if err := pub.Publish(o.Topic, o.Message); err != nil {
				return err
			}
		}
		return nil
	}
}

func (o *outboxed) Publisher() message.Publisher { return outboxPublisher{o.outbox} }

func (o *outboxed) Subscriber(group string) (message.Subscriber, error) {
	return o.target.Subscriber(group)
}

func (o *outboxed) PublishBatch(ctx context.Context, batch []Outgoing) error {
	return o.outbox.PublishBatch(ctx, batch)
}

func (o *outboxed) PublishOnce(ctx context.Context, once Once, batch []Outgoing) error {
	return o.outbox.PublishOnce(ctx, once, batch)
}

func (o *outboxed) PublishTx(ctx context.Context, tx *sql.Tx, batch []Outgoing) (func(), error) {
	return o.outbox.PublishTx(ctx, tx, batch)
}

// Health is the outbox's: publishes are accepted while its database answers.
func (o *outboxed) Health(ctx context.Context) error { return o.outbox.Health(ctx) }

// Detail reports the relay's lag and whether the target answers.
func (o *outboxed) Detail(ctx context.Context) string { return outboxDetail(ctx, o.outbox, o.target) }

// outboxDetail describes outbox's lag and target's health in a line for operators.
func outboxDetail(ctx context.Context, outbox Outbox, target Backend) string {
	var s string
	if lag, err := outbox.Lag(ctx); err != nil {
		s = "outbox lag unknown: " + err.Error()
	} else {
		s = fmt.Sprintf("outbox: %d messages waiting, oldest %s", lag.Messages, lag.Oldest.Round(time.Millisecond))
	}
	if err := target.Health(ctx); err != nil {
		s += "; relay target down: " + err.Error()
	}
	return s
}

// Close stops the relay and the outbox, then the target.
func (o *outboxed) Close() error { return errors.Join(o.outbox.Close(), o.target.Close()) }

// outboxPublisher is the Watermill Publisher of an outboxed backend: messages go to the
// outbox.
type outboxPublisher struct{ outbox Outbox }

func (p outboxPublisher) Publish(topic string, msgs ...*message.Message) error {
	return p.outbox.PublishBatch(AsBatch(topic, msgs))
}

func (p outboxPublisher) Close() error { return nil }

// txBackend is where PublishTx stores events: the backend itself when it can, else the
// service's outbox (nil when there is none).
func (s *Service) txBackend() TxBackend {
	if tb, ok := s.backend.(TxBackend); ok {
		return tb
	}
	if s.outbox != nil {
		return s.outbox
	}
	return nil
}

// PublishTx stores events in tx and publishes them once it commits; see [TxPublisher]. On
// the SQL bus (and Kafka with its outbox) they are stored on the bus itself; on other buses in
// the outbox, whose relay publishes them. It fails with [ErrNoOutbox] when there is neither.
func (s *Service) PublishTx(ctx context.Context, tx *sql.Tx, events ...Event) (func(), error) {
	tb := s.txBackend()
	if tb == nil {
		return nil, ErrNoOutbox
	}
	batch, err := s.outgoing(ctx, events)
	if err != nil || len(batch) == 0 {
		return func() {}, err
	}
	committed, err := tb.PublishTx(ctx, tx, batch)
	if err != nil {
		return nil, fmt.Errorf("publish a batch of %d in a transaction: %w", len(batch), err)
	}
	return func() {
		committed()
		_ = s.published(batch, nil)
	}, nil
}
