package sqlbus_test

import (
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// TestConformance runs the EventsService conformance suite on SQLite and PostgreSQL.
func TestConformance(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		eventsvctest.Run(t, eventsvctest.Config{
			NewBus: func(*testing.T) eventsvctest.Bus { return shared{db: db, cfg: testConfig()} },
			RefuseMessage: func(t *testing.T, bus eventsvctest.Bus, id string) {
				refuseMessage(t, bus.(shared).db, id)
			},
		})
	})
}

// TestWatermillUniversal runs Watermill's universal Pub/Sub tests: consumer groups and
// persistence, then order (all messages under one key, since order holds per key).
//
// Features left off, and why: ExactlyOnceDelivery (delivery is at least once: what was
// handed out and not acknowledged is delivered again after a close); RequireSingleInstance
// (instances share the database); NewSubscriberReceivesOldMessages (subscribers of the plain
// constructor share one consumer group; TestConsumerGroups covers new groups reading old
// messages); RestartServiceCommand (the test database is shared with other tests and is not
// restarted).
func TestWatermillUniversal(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		// ForceShort: the long variants publish 10000 messages one transaction each (minutes on
		// SQLite under -race); the short ones run the same checks with 100.
		features := tests.Features{ConsumerGroups: true, Persistent: true, ForceShort: true}
		t.Run("groups", func(t *testing.T) {
			tests.TestPubSub(t, features, pubSub(db, ""), groupPubSub(db, ""))
		})
		t.Run("ordered", func(t *testing.T) {
			ordered := features
			ordered.GuaranteedOrder = true
			tests.TestPubSub(t, ordered, pubSub(db, "one-key"), groupPubSub(db, "one-key"))
		})
	})
}

// pubSub makes pub/subs whose subscribers share one consumer group per test, as the suite
// expects of a plain constructor.
func pubSub(db *database.DB, key string) tests.PubSubConstructor {
	return func(t *testing.T) (message.Publisher, message.Subscriber) {
		return groupPubSub(db, key)(t, "universal-"+t.Name())
	}
}

// groupPubSub makes a new bus (an instance) on db per call.
func groupPubSub(db *database.DB, key string) tests.ConsumerGroupPubSubConstructor {
	var mu sync.Mutex
	return func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		mu.Lock()
		defer mu.Unlock()
		b := startBus(t, db, testConfig())
		sub, err := b.Subscriber(group)
		require.NoError(t, err)
		pub := publisher{bus: b, key: key}
		return pub, sub
	}
}

// publisher publishes on the bus, every message under key when it is set. Its Close leaves
// the bus to the test's cleanup: the suite closes a constructor's publisher and goes on using
// its subscriber, and on this backend both are the one Bus.
type publisher struct {
	bus *sqlbus.Bus
	key string
}

func (p publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.key != "" {
		for _, m := range msgs {
			m.Metadata.Set(eventsvc.MetaKeyHeader, p.key)
		}
	}
	return p.bus.Publish(topic, msgs...)
}

func (publisher) Close() error { return nil }
