package memory

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/internal/lanes"
)

// DefaultLanes is the number of per-key lanes of each group: how many keys can be handled at
// once by one subscription.
const DefaultLanes = 64

// Config tunes the memory bus.
type Config struct {
	// Lanes per consumer group (default DefaultLanes).
	Lanes int
	// Persistent keeps every published message and replays it to new groups, as GoChannel's
	// own option does. It is for tests that publish before subscribing; memory grows forever.
	Persistent bool
}

// Bus is the memory backend.
type Bus struct {
	cfg    Config
	gc     *gochannel.GoChannel
	closed atomic.Bool

	mu     sync.Mutex
	groups map[groupTopic]*group
}

var _ eventsvc.BatchBackend = (*Bus)(nil)

var _ eventsvc.Backend = (*Bus)(nil)

type groupTopic struct{ group, topic string }

// group is one consumer group's subscription to one topic, shared by its members.
type group struct {
	members int
	lanes   *lanes.Dispatcher
	cancel  context.CancelFunc
	reader  chan struct{} // closed when the GoChannel reader has stopped
}

// New builds a memory bus.
func New(cfg Config, log zerolog.Logger) *Bus {
	if cfg.Lanes <= 0 {
		cfg.Lanes = DefaultLanes
	}
	return &Bus{
		cfg: cfg,
		gc: gochannel.NewGoChannel(gochannel.Config{
			BlockPublishUntilSubscriberAck: true,
			Persistent:                     cfg.Persistent,
		}, eventsvc.NewWatermillLogger(log)),
		groups: map[groupTopic]*group{},
	}
}

// Start does nothing: the memory bus is always ready.
func (b *Bus) Start(context.Context) error { return nil }

// Publisher returns the bus itself.
func (b *Bus) Publisher() message.Publisher { return b }

// Publish queues the messages for every group subscribed to topic, in order.
func (b *Bus) Publish(topic string, msgs ...*message.Message) error {
	if b.closed.Load() {
		return eventsvc.ErrClosed
	}
	return b.gc.Publish(topic, msgs...)
}

// PublishBatch queues the messages in order, each for every group subscribed to its topic.
// A bus closed before the call refuses the whole batch; a Close during it may cut it short.
func (b *Bus) PublishBatch(_ context.Context, batch []eventsvc.Outgoing) error {
	if b.closed.Load() {
		return eventsvc.ErrClosed
	}
	for _, o := range batch {
		if err := b.gc.Publish(o.Topic, o.Message); err != nil {
			return err
		}
	}
	return nil
}

// Subscriber returns a new member of the group. When its last member leaves a topic, the
// group's lanes stop: messages still queued for it are handed out first, unless the
// subscriber closes.
func (b *Bus) Subscriber(group string) (message.Subscriber, error) {
	if b.closed.Load() {
		return nil, eventsvc.ErrClosed
	}
	return lanes.NewSubscriber(func(topic string) (*lanes.Dispatcher, func(<-chan struct{}), error) {
		g, err := b.join(group, topic)
		if err != nil {
			return nil, nil, err
		}
		return g.lanes, func(stop <-chan struct{}) { b.leave(group, topic, g, stop) }, nil
	}), nil
}

// Health fails once the bus is closed.
func (b *Bus) Health(context.Context) error {
	if b.closed.Load() {
		return eventsvc.ErrClosed
	}
	return nil
}

// Close stops the bus; queued events are dropped.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	return b.gc.Close()
}

// join adds a member to the group's subscription of topic, subscribing to GoChannel for the
// first one.
func (b *Bus) join(name, topic string) (*group, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := groupTopic{name, topic}
	if g := b.groups[key]; g != nil {
		g.members++
		return g, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	in, err := b.gc.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		return nil, err
	}
	g := &group{members: 1, lanes: lanes.New(b.cfg.Lanes, eventsvc.MetaKeyHeader, nil), cancel: cancel, reader: make(chan struct{})}
	go func() {
		defer close(g.reader)
		for msg := range in {
			// GoChannel gave this group its own copy; only the ack channels must be new.
			own := message.NewMessage(msg.UUID, msg.Payload)
			own.Metadata = msg.Metadata
			g.lanes.Add(own, lanes.Position{}) // no position: nothing to record
			// Queued for the group: GoChannel's Publish may return.
			msg.Ack()
		}
	}()
	b.groups[key] = g
	return g, nil
}

// leave removes a member; the last one unsubscribes from GoChannel and stops the lanes, after
// handing out what they hold until stop closes.
func (b *Bus) leave(name, topic string, g *group, stop <-chan struct{}) {
	b.mu.Lock()
	g.members--
	last := g.members == 0
	if last {
		delete(b.groups, groupTopic{name, topic})
	}
	b.mu.Unlock()
	if last {
		g.cancel()
		<-g.reader
		g.lanes.Drain(stop)
		g.lanes.Close()
	}
}

// Module contributes the memory bus as the backend named "memory".
var Module = fx.Module("eventsvc/memory",
	fx.Provide(eventsvc.AsBackend(func(log zerolog.Logger) eventsvc.BackendFactory {
		return eventsvc.BackendFactory{Name: "memory", New: func() (eventsvc.Backend, error) {
			return New(Config{}, log.With().Str("module", "events.memory").Logger()), nil
		}}
	})),
)
