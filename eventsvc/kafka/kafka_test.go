package kafka_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/kafka"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// TestConformance runs the EventsService conformance suite on kfake and on the real broker,
// publishing straight to Kafka and through the outbox (on SQLite).
func TestConformance(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(c.brokers)
			eventsvctest.Run(t, eventsvctest.Config{
				NewBus: func(*testing.T) eventsvctest.Bus { return bus{cfg: cfg} },
				Wait:   60 * time.Second,
			})
		})
		t.Run(c.name+"/outbox", func(t *testing.T) {
			cfg := testConfig(c.brokers)
			eventsvctest.Run(t, eventsvctest.Config{
				NewBus: func(t *testing.T) eventsvctest.Bus {
					return outboxBus{cfg: cfg, db: databasetest.SQLite(t, sqlbus.Migrations)}
				},
				Wait: 60 * time.Second,
			})
		})
	}
}

// TestWatermillUniversal runs Watermill's universal Pub/Sub tests: consumer groups and
// persistence, then order within a partition (all messages under one key).
func TestWatermillUniversal(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			// NewSubscriberReceivesOldMessages stays off: that test expects every subscriber of
			// the plain constructor to get every message, but those share one consumer group
			// (TestConsumerGroups covers new groups reading old messages).
			features := tests.Features{
				ConsumerGroups: true,
				Persistent:     true,
				ForceShort:     c.name == "kafka",
			}
			t.Run("groups", func(t *testing.T) {
				tests.TestPubSub(t, features, pubSub(c.brokers, ""), groupPubSub(c.brokers, ""))
			})
			t.Run("ordered", func(t *testing.T) {
				ordered := features
				ordered.GuaranteedOrder = true
				tests.TestPubSub(t, ordered, pubSub(c.brokers, "one-key"), groupPubSub(c.brokers, "one-key"))
			})
		})
	}
}

// pubSub makes pub/subs whose subscribers share one consumer group per test, as the suite
// expects of a plain constructor.
func pubSub(brokers []string, key string) tests.PubSubConstructor {
	return func(t *testing.T) (message.Publisher, message.Subscriber) {
		return groupPubSub(brokers, key)(t, "universal-"+t.Name())
	}
}

func groupPubSub(brokers []string, key string) tests.ConsumerGroupPubSubConstructor {
	return func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		cfg := testConfig(brokers)
		cfg.TopicPrefix, cfg.GroupPrefix = "universal.", "universal."
		b, err := kafka.New(cfg, zerolog.Nop(), nil)
		require.NoError(t, err)
		require.NoError(t, b.Start(t.Context()))
		sub, err := b.Subscriber(sanitize(group))
		require.NoError(t, err)
		var pub message.Publisher = b
		if key != "" {
			pub = keyed{Bus: b, key: key}
		}
		return pub, sub
	}
}

// keyed publishes every message under one key, so that they share a partition.
type keyed struct {
	*kafka.Bus
	key string
}

func (k keyed) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		m.Metadata.Set(eventsvc.MetaKeyHeader, k.key)
	}
	return k.Bus.Publish(topic, msgs...)
}

// sanitize makes a test name usable as a group id.
func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			out[i] = '_'
		}
	}
	return string(out)
}
