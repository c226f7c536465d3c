package eventsvc

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/fx"
)

// Backend is a bus implementation: a Watermill Publisher and consumer-group Subscribers.
//
// Contract, checked by eventsvc/eventsvctest and Watermill's universal tests:
//   - Publish returns only once the messages are on the bus (every current subscription's
//     queue for memory, the broker's acknowledgement for Kafka); the message's context bounds
//     the wait.
//   - A Subscriber made for a group delivers each message of a topic to one member of that
//     group; each group gets every message.
//   - Messages with the same ordering key (metadata [MetaKeyHeader]) are delivered one at a
//     time: the next only after the previous was acked; a nacked message is delivered again
//     before any later one with its key. Messages with other keys may be in flight meanwhile.
//   - Closing a Subscriber stops delivery and returns once the acks it received are recorded.
type Backend interface {
	// Start connects; it is called once, before any Publish or Subscriber.
	Start(ctx context.Context) error
	// Publisher returns the shared publisher.
	Publisher() message.Publisher
	// Subscriber returns a new member of the consumer group.
	Subscriber(group string) (message.Subscriber, error)
	// Health reports whether the bus is reachable.
	Health(ctx context.Context) error
	// Close releases the connections; Publish fails afterwards.
	Close() error
}

// ReservedMetadataPrefix starts the Watermill metadata keys that belong to the bus (the key,
// the time, a backend's bookkeeping); handlers never see them and publishers may not set them.
const ReservedMetadataPrefix = reservedPrefix

// MetaKeyHeader is the Watermill metadata key that carries an event's ordering key.
const MetaKeyHeader = reservedPrefix + "key"

// MetaTimeHeader is the Watermill metadata key with the event time (Unix nanoseconds, decimal).
const MetaTimeHeader = reservedPrefix + "time"

// BackendFactory names a backend that events.bus can select; New is called only for the
// selected one.
type BackendFactory struct {
	Name string
	New  func() (Backend, error)
}

// AsBackend annotates a constructor returning a BackendFactory so that it joins the
// "eventsvc.backends" group.
func AsBackend(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"eventsvc.backends"`))
}
