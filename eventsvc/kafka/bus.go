package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
)

// Bus is the Kafka backend.
type Bus struct {
	cfg       Config
	log       zerolog.Logger
	tls       *tls.Config
	mechanism sasl.Mechanism
	transport *kafkago.Transport
	client    *kafkago.Client
	writer    *kafkago.Writer
	dups      *prometheus.CounterVec // records skipped as duplicates, by topic and group

	replication int        // replication factor of created topics, settled by Start
	topics      sync.Map   // Kafka topic name → struct{}: known to exist
	creating    sync.Mutex // one topic creation at a time
	closed      atomic.Bool
}

var (
	_ eventsvc.Backend      = (*Bus)(nil)
	_ eventsvc.BatchBackend = (*Bus)(nil)
)

// New prepares a Kafka bus; it connects in Start. Its metrics are registered on reg (nil:
// none).
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Bus, error) {
	cfg.Brokers = cfg.addresses()
	if len(cfg.Brokers) == 0 {
		return nil, config.Problems{{Path: "events.kafka.brokers", Message: "is required when events.bus is kafka, e.g. [localhost:9092]"}}
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := cfg.mechanism()
	if err != nil {
		return nil, err
	}
	dups, err := newDuplicates(reg)
	if err != nil {
		return nil, err
	}
	b := &Bus{cfg: cfg, log: log, tls: tc, mechanism: mech, dups: dups}
	b.transport = &kafkago.Transport{
		ClientID:    cfg.ClientID,
		TLS:         tc,
		SASL:        mech,
		DialTimeout: 10 * time.Second,
		MetadataTTL: 30 * time.Second,
	}
	b.client = &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: b.transport}
	b.writer = &kafkago.Writer{
		Addr:                   kafkago.TCP(cfg.Brokers...),
		Balancer:               kafkago.Murmur2Balancer{},
		RequiredAcks:           kafkago.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              500,
		MaxAttempts:            5,
		WriteBackoffMin:        20 * time.Millisecond,
		WriteBackoffMax:        500 * time.Millisecond,
		AllowAutoTopicCreation: false,
		Transport:              b.transport,
		ErrorLogger:            kafkaLogger{log: log, warn: true},
	}
	return b, nil
}

// Start checks that the brokers answer and settles the replication factor of created topics.
func (b *Bus) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	md, err := b.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{}})
	if err != nil {
		return fmt.Errorf("cannot reach the Kafka brokers %v (events.kafka.brokers): %w", b.cfg.Brokers, err)
	}
	b.replication = b.cfg.ReplicationFactor
	if b.replication == 0 {
		b.replication = min(3, max(len(md.Brokers), 1))
	}
	b.log.Info().Strs("brokers", b.cfg.Brokers).Int("cluster_brokers", len(md.Brokers)).Msg("connected to Kafka")
	return nil
}

// Health asks a broker for its API versions.
func (b *Bus) Health(ctx context.Context) error {
	if b.closed.Load() {
		return eventsvc.ErrClosed
	}
	if _, err := b.client.ApiVersions(ctx, &kafkago.ApiVersionsRequest{}); err != nil {
		return fmt.Errorf("kafka brokers unreachable: %w", err)
	}
	return nil
}

// Close flushes and closes the writer and the connections.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	err := b.writer.Close()
	b.transport.CloseIdleConnections()
	return err
}

// Publisher returns the bus itself.
func (b *Bus) Publisher() message.Publisher { return b }

// Publish writes the messages to the topic and returns once the broker acknowledged all of
// them (acks=all), or an error within events.kafka.publishTimeout (or earlier, when the first
// message's context ends).
func (b *Bus) Publish(topic string, msgs ...*message.Message) error {
	return b.PublishBatch(eventsvc.AsBatch(topic, msgs))
}

// PublishBatch writes the messages of any topics in one call of the writer, which sends them
// to their partitions' leaders together, and returns once the broker acknowledged all of them
// (acks=all), or an error within events.kafka.publishTimeout or when ctx ends. Kafka has no
// atomic batch here: after an error, some of the messages may be stored.
func (b *Bus) PublishBatch(ctx context.Context, batch []eventsvc.Outgoing) error {
	if b.closed.Load() {
		return eventsvc.ErrClosed
	}
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	recs := make([]kafkago.Message, len(batch))
	names := make([]string, 0, 2)
	for i, o := range batch {
		kt := b.cfg.kafkaTopic(o.Topic)
		if !slices.Contains(names, kt) {
			if err := b.ensureTopic(ctx, kt); err != nil {
				return err
			}
			names = append(names, kt)
		}
		recs[i] = toRecord(kt, o.Topic, o.Message)
	}
	if err := b.writer.WriteMessages(ctx, recs...); err != nil {
		return fmt.Errorf("kafka topic %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// errTopicMissing reports a topic that does not exist while topic creation is off.
var errTopicMissing = errors.New("does not exist and events.kafka.autoCreateTopics is false")

// ensureTopic makes sure the Kafka topic exists: it creates it when allowed, else checks it.
func (b *Bus) ensureTopic(ctx context.Context, kt string) error {
	if _, ok := b.topics.Load(kt); ok {
		return nil
	}
	b.creating.Lock()
	defer b.creating.Unlock()
	if _, ok := b.topics.Load(kt); ok {
		return nil
	}
	exists, ready, err := b.topicState(ctx, kt)
	if err != nil {
		return fmt.Errorf("kafka topic %s: %w", kt, err)
	}
	switch {
	case exists && !ready:
		if err := b.awaitTopic(ctx, kt); err != nil {
			return err
		}
	case !exists:
		if !b.cfg.AutoCreateTopics {
			return fmt.Errorf("kafka topic %s %w", kt, errTopicMissing)
		}
		res, err := b.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
			Topic: kt, NumPartitions: b.cfg.Partitions, ReplicationFactor: b.replication,
		}}})
		if err != nil {
			return fmt.Errorf("create kafka topic %s: %w", kt, err)
		}
		if err := res.Errors[kt]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("create kafka topic %s: %w", kt, err)
		}
		if err := b.awaitTopic(ctx, kt); err != nil {
			return err
		}
		b.log.Info().Str("topic", kt).Int("partitions", b.cfg.Partitions).Int("replication", b.replication).Msg("kafka topic created")
	}
	b.topics.Store(kt, struct{}{})
	return nil
}

// topicState reports whether the Kafka topic exists and whether every partition of it has a
// leader, so that a write to it will not be refused with "not leader for partition".
func (b *Bus) topicState(ctx context.Context, kt string) (exists, ready bool, err error) {
	md, err := b.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{kt}})
	if err != nil {
		return false, false, err
	}
	for _, t := range md.Topics {
		if t.Name != kt {
			continue
		}
		switch {
		case t.Error == nil && len(t.Partitions) > 0:
			return true, allLed(t.Partitions), nil
		case t.Error == nil || errors.Is(t.Error, kafkago.UnknownTopicOrPartition):
			return false, false, nil
		default:
			return false, false, t.Error
		}
	}
	return false, false, nil
}

// allLed reports whether every partition has a leader and no error.
func allLed(ps []kafkago.Partition) bool {
	for _, p := range ps {
		if p.Error != nil || p.Leader.ID < 0 || p.Leader.Host == "" {
			return false
		}
	}
	return true
}

// awaitTopic waits until the topic shows up in the metadata with a leader for every partition:
// a broker that has just created a topic refuses writes until its partitions are led.
func (b *Bus) awaitTopic(ctx context.Context, kt string) error {
	for {
		_, ready, err := b.topicState(ctx, kt)
		if err == nil && ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka topic %s: created but not ready: %w", kt, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dialer is what the readers connect with.
func (b *Bus) dialer() *kafkago.Dialer {
	return &kafkago.Dialer{
		ClientID:      b.cfg.ClientID,
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           b.tls,
		SASLMechanism: b.mechanism,
		Resolver:      &net.Resolver{},
	}
}

// kafkaLogger adapts kafka-go's printf logging to zerolog: its errors as warnings (it retries),
// the rest at trace level.
type kafkaLogger struct {
	log  zerolog.Logger
	warn bool
}

func (l kafkaLogger) Printf(format string, args ...any) {
	if l.warn {
		l.log.Warn().Msgf("kafka-go: "+format, args...)
		return
	}
	l.log.Trace().Msgf("kafka-go: "+format, args...)
}

// Module contributes the Kafka bus as the backend named "kafka" — behind the SQL bus's
// outbox unless events.kafka.outbox is false — and owns events.kafka.
var Module = fx.Module("eventsvc/kafka",
	config.Provide[Config]("events.kafka"),
	fx.Provide(eventsvc.AsBackend(func(p backendParams) eventsvc.BackendFactory {
		return eventsvc.BackendFactory{Name: "kafka", New: func() (eventsvc.Backend, error) {
			b, err := New(p.Config, p.Log.With().Str("module", "events.kafka").Logger(), p.Registerer)
			if err != nil || !p.Config.Outbox {
				return b, err
			}
			if p.Outbox.New == nil {
				return nil, config.Problems{{Path: "events.kafka.outbox", Message: "needs the SQL bus module (eventsvc/sql), which keeps the outbox; set it to false to publish straight to Kafka"}}
			}
			outbox, err := p.Outbox.New()
			if err != nil {
				return nil, err
			}
			return eventsvc.Outboxed(outbox, b), nil
		}}
	})),
)

// backendParams are what the Kafka bus is made of.
type backendParams struct {
	fx.In
	Config     Config
	Log        zerolog.Logger
	Registerer prometheus.Registerer `optional:"true"`
	// Outbox keeps publishes in the database when events.kafka.outbox is true.
	Outbox eventsvc.OutboxFactory `optional:"true"`
}
