package eventsvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// BatchPublisher puts several events, of any topics, on the bus in one step; *Service
// implements it, and so does the recording fake in eventsvctest.
type BatchPublisher interface {
	Publisher
	// PublishBatch publishes events in order and returns once the backend holds all of them.
	// On a backend that is a [BatchBackend] with atomic batches (the SQL bus) either all are
	// stored or none; elsewhere a failure may leave the events before it published.
	PublishBatch(ctx context.Context, events ...Event) error
}

// Outgoing is one message of a batch, with its topic.
type Outgoing struct {
	Topic   string
	Message *message.Message
}

// AsBatch returns msgs as a batch on topic, with the first message's context (Background when
// there is none): what a BatchBackend's Publish passes to its PublishBatch.
func AsBatch(topic string, msgs []*message.Message) (context.Context, []Outgoing) {
	if len(msgs) == 0 {
		return context.Background(), nil
	}
	batch := make([]Outgoing, len(msgs))
	for i, m := range msgs {
		batch[i] = Outgoing{Topic: topic, Message: m}
	}
	return msgs[0].Context(), batch
}

// BatchBackend is a Backend that stores the messages of a batch, of any topics, in one step:
// one transaction on the SQL bus, one produce request on Kafka, one queue step on memory.
// Backends that are not fall back to one Publish per message.
type BatchBackend interface {
	// PublishBatch returns once every message of batch is on the bus, in order, or with the
	// error that kept (some of) them out; ctx bounds the wait.
	PublishBatch(ctx context.Context, batch []Outgoing) error
}

// Once makes a publish happen at most once per key: the bus records the key with the events,
// in the same transaction, and refuses a later publish with the same key while the key is
// kept. The ingress uses the topic and the sender's delivery id, so that one write records
// both the delivery and its events.
type Once struct {
	// Scope and ID are the key, e.g. a webhook topic and a delivery id.
	Scope, ID string
	// Keep is how long the key is remembered after the publish.
	Keep time.Duration
}

// ErrDuplicate is returned by [Service.PublishOnce] when a publish with the same key is
// recorded already: its events are on the bus, and nothing was published now.
var ErrDuplicate = errors.New("published already")

// ErrOnceUnsupported is returned by [Service.PublishOnce] on a backend that cannot record a
// key with its events atomically (memory, Kafka): deduplicate some other way.
var ErrOnceUnsupported = errors.New("the events bus cannot publish once: use events.bus sql")

// OnceBackend is a Backend that records a [Once] key and a batch's messages atomically.
type OnceBackend interface {
	// PublishOnce stores batch and the key together and returns nil, or stores nothing and
	// returns ErrDuplicate when the key is recorded and not expired, or another error.
	PublishOnce(ctx context.Context, once Once, batch []Outgoing) error
}

// PublishBatch publishes events in order, in one step of the backend; see [BatchPublisher].
// Each event is prepared as [Service.Publish] prepares it; without a traceparent in ctx, the
// events join one new trace.
func (s *Service) PublishBatch(ctx context.Context, events ...Event) error {
	batch, err := s.outgoing(ctx, events)
	if err != nil || len(batch) == 0 {
		return err
	}
	if bb, ok := s.backend.(BatchBackend); ok {
		return s.published(batch, bb.PublishBatch(ctx, batch))
	}
	for _, o := range batch {
		if err := s.published([]Outgoing{o}, s.pub.Publish(o.Topic, o.Message)); err != nil {
			return err
		}
	}
	return nil
}

// CanPublishOnce reports whether the backend records [Once] keys (see [Service.PublishOnce]).
func (s *Service) CanPublishOnce() bool {
	_, ok := s.backend.(OnceBackend)
	return ok
}

// PublishOnce publishes events in one step, all or none, together with the key once, unless
// a publish with that key is recorded: then it publishes nothing and returns ErrDuplicate. On
// a backend that cannot (see CanPublishOnce) it returns ErrOnceUnsupported.
func (s *Service) PublishOnce(ctx context.Context, once Once, events ...Event) error {
	ob, ok := s.backend.(OnceBackend)
	if !ok {
		return ErrOnceUnsupported
	}
	if once.Scope == "" || once.ID == "" || once.Keep <= 0 {
		return errors.New("eventsvc: a Once key needs a scope, an id and a positive Keep")
	}
	batch, err := s.outgoing(ctx, events)
	if err != nil || len(batch) == 0 {
		return err
	}
	err = ob.PublishOnce(ctx, once, batch)
	if errors.Is(err, ErrDuplicate) {
		return ErrDuplicate
	}
	return s.published(batch, err)
}

// outgoing prepares events for a batch; it fails, publishing nothing, when one is invalid or
// the service is not running.
func (s *Service) outgoing(ctx context.Context, events []Event) ([]Outgoing, error) {
	if s.closed.Load() || !s.started.Load() {
		return nil, ErrClosed
	}
	prepared, err := prepareBatch(ctx, events, 2)
	if err != nil {
		return nil, err
	}
	batch := make([]Outgoing, len(prepared))
	for i, e := range prepared {
		msg := toMessage(e)
		msg.SetContext(ctx)
		batch[i] = Outgoing{Topic: e.Topic, Message: msg}
	}
	return batch, nil
}

// published counts a stored batch, or turns the backend's error into the service's.
func (s *Service) published(batch []Outgoing, err error) error {
	if err != nil {
		if s.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("publish a batch of %d: %w", len(batch), err)
	}
	for _, o := range batch {
		s.metrics.published.WithLabelValues(o.Topic).Inc()
	}
	return nil
}
