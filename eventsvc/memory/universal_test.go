package memory_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/eventsvc/memory"
)

// TestWatermillUniversal runs Watermill's universal Pub/Sub tests with the features the
// memory bus has. Like GoChannel's own run, it uses the persistent mode, because those tests
// publish before they subscribe.
func TestWatermillUniversal(t *testing.T) {
	tests.TestPubSub(t,
		tests.Features{
			ConsumerGroups:        true,
			ExactlyOnceDelivery:   true,
			GuaranteedOrder:       false,
			Persistent:            false,
			RequireSingleInstance: true,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			b := memory.New(memory.Config{Persistent: true}, zerolog.Nop())
			return b, &everySubscription{bus: b}
		},
		groupConstructor(),
	)
}

// groupConstructor returns pubsubs that share one bus per test, so that the consumer groups
// of one test see the same messages; closing one of them leaves the bus open.
func groupConstructor() tests.ConsumerGroupPubSubConstructor {
	var mu sync.Mutex
	buses := map[*testing.T]*memory.Bus{}
	return func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		mu.Lock()
		b := buses[t]
		if b == nil {
			b = memory.New(memory.Config{Persistent: true}, zerolog.Nop())
			buses[t] = b
			t.Cleanup(func() { _ = b.Close() })
		}
		mu.Unlock()
		sub, err := b.Subscriber(group)
		if err != nil {
			t.Fatal(err)
		}
		return openPublisher{b}, sub
	}
}

type openPublisher struct{ *memory.Bus }

func (openPublisher) Close() error { return nil }

// everySubscription gives each Subscribe a group of its own, so that every subscription gets
// every message, as with plain GoChannel.
type everySubscription struct {
	bus  *memory.Bus
	mu   sync.Mutex
	subs []message.Subscriber
}

func (e *everySubscription) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s, err := e.bus.Subscriber(watermill.NewUUID())
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.subs = append(e.subs, s)
	e.mu.Unlock()
	return s.Subscribe(ctx, topic)
}

func (e *everySubscription) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.subs {
		_ = s.Close()
	}
	return nil
}
