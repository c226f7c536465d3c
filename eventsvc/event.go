package eventsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is one event on the bus.
type Event struct {
	// ID identifies the event; a new UUID when empty at publish. Webhook events use the
	// provider's delivery id, so that redeliveries are recognisable.
	ID string
	// Topic names the stream, e.g. github or github.push.
	Topic string
	// Key orders events: the same key reaches a subscription in publish order. Empty keys
	// share one order.
	Key string
	// Payload is the raw body, kept byte for byte.
	Payload []byte
	// Metadata are string attributes (HTTP headers of a webhook, correlation id, traceparent).
	Metadata map[string]string
	// Time is when the event happened; now when zero at publish.
	Time time.Time
}

// Metadata keys with a meaning to the bus.
const (
	// MetaCorrelationID groups events caused by one original event or request.
	MetaCorrelationID = "correlation_id"
	// MetaTraceparent is the W3C trace context of the publisher.
	MetaTraceparent = "traceparent"
)

// reservedPrefix marks the bus's own Watermill metadata (key, time); it is not shown to
// handlers and may not be set by publishers.
const reservedPrefix = "stagebus-"

// ErrInvalidEvent reports an event that cannot be published.
var ErrInvalidEvent = errors.New("invalid event")

// ErrClosed is returned by Publish and Subscribe once the bus is stopping or stopped.
var ErrClosed = errors.New("events bus is stopped")

// maxTopicLength bounds topic names (Kafka allows 249 characters including the prefix).
const maxTopicLength = 200

// ValidateTopic checks that a topic name is usable on every backend: 1–200 characters of
// letters, digits, '.', '_', '-' and ':'.
func ValidateTopic(topic string) error {
	if topic == "" || len(topic) > maxTopicLength {
		return fmt.Errorf("%w: topic must have 1 to %d characters", ErrInvalidEvent, maxTopicLength)
	}
	for _, r := range topic {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:", r)) {
			return fmt.Errorf("%w: topic %q may only contain letters, digits, '.', '_', '-' and ':'", ErrInvalidEvent, topic)
		}
	}
	return nil
}

func (e Event) validate() error {
	if err := ValidateTopic(e.Topic); err != nil {
		return err
	}
	for k := range e.Metadata {
		if strings.HasPrefix(k, reservedPrefix) {
			return fmt.Errorf("%w: metadata key %q is reserved", ErrInvalidEvent, k)
		}
	}
	return nil
}

// eventContext is what a context carries for the bus, as a *eventContext under one key so
// that the innermost setting wins.
type eventContext struct {
	event       *Event
	correlation string
	traceparent string
}

type eventContextKey struct{}

func eventContextOf(ctx context.Context) eventContext {
	if ec, _ := ctx.Value(eventContextKey{}).(*eventContext); ec != nil {
		return *ec
	}
	return eventContext{}
}

// ContextWithCorrelationID returns ctx carrying a correlation id; events published with it
// carry the id unless they set their own.
func ContextWithCorrelationID(ctx context.Context, id string) context.Context {
	ec := eventContextOf(ctx)
	ec.correlation = id
	return context.WithValue(ctx, eventContextKey{}, &ec)
}

// CorrelationIDFromContext returns the correlation id of the event being handled (or set by
// ContextWithCorrelationID), or "".
func CorrelationIDFromContext(ctx context.Context) string { return eventContextOf(ctx).correlation }

// ContextWithTraceparent returns ctx carrying a W3C traceparent; events published with it
// carry it unless they set their own.
func ContextWithTraceparent(ctx context.Context, tp string) context.Context {
	ec := eventContextOf(ctx)
	ec.traceparent = tp
	return context.WithValue(ctx, eventContextKey{}, &ec)
}

// TraceparentFromContext returns the W3C traceparent of the handler's span, or "".
func TraceparentFromContext(ctx context.Context) string { return eventContextOf(ctx).traceparent }

// EventFromContext returns the event a handler is handling, if any.
func EventFromContext(ctx context.Context) (Event, bool) {
	if e := eventContextOf(ctx).event; e != nil {
		return *e, true
	}
	return Event{}, false
}
