package eventsvc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/health"
)

// Publisher is what a module needs to put events on the bus; *Service implements it, and so
// does the recording fake in eventsvctest.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// DeadLetter is an event whose handler failed on its last attempt.
type DeadLetter struct {
	Subscription string
	Topic        string
	Event        Event
	Error        string
	Attempts     int
	FailedAt     time.Time
}

// DeadLetterStore keeps dead letters durably (the database, whatever the bus).
type DeadLetterStore interface {
	Add(ctx context.Context, d DeadLetter) error
}

// ErrNotRunning means the subscription does not run in this process.
var ErrNotRunning = errors.New("subscription is not running in this process")

// Service is the EventsService: Publish and subscriptions on the configured backend.
type Service struct {
	backend     Backend
	outbox      Outbox // for PublishTx on a backend that is not a TxBackend; may be nil
	pub         message.Publisher
	retry       RetryPolicy
	deadLetters DeadLetterStore
	log         zerolog.Logger
	metrics     *metrics
	declared    []Subscription

	mu      sync.Mutex
	running map[string]*Running
	started atomic.Bool
	closed  atomic.Bool
}

var _ BatchPublisher = (*Service)(nil)

// Options are the inputs of [New].
type Options struct {
	Backend     Backend
	Retry       RetryPolicy
	DeadLetters DeadLetterStore
	Logger      zerolog.Logger
	Registerer  prometheus.Registerer
	// Outbox, when set, keeps the events of PublishTx on a backend that cannot (memory,
	// Kafka without its outbox) and relays them to it. Start starts it and
	// Stop closes it.
	Outbox Outbox
	// Subscriptions are started by Start and stopped by Stop; see also [Service.Declare].
	Subscriptions []Subscription
}

// New builds the service; nothing connects before Start.
func New(o Options) (*Service, error) {
	if o.Backend == nil || o.DeadLetters == nil || o.Registerer == nil {
		return nil, errors.New("eventsvc: a backend, a dead-letter store and a metrics registerer are required")
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{
		backend:     o.Backend,
		outbox:      o.Outbox,
		retry:       o.Retry,
		deadLetters: o.DeadLetters,
		log:         o.Logger,
		metrics:     m,
		running:     map[string]*Running{},
	}
	return s, s.Declare(o.Subscriptions...)
}

// Declare adds subscriptions that Start starts and Stop stops. They are checked now: valid,
// and no id declared twice. It must be called before Start.
func (s *Service) Declare(subs ...Subscription) error {
	if s.started.Load() {
		return errors.New("eventsvc: Declare after Start; use Subscribe")
	}
	for _, sub := range subs {
		if err := sub.validate(); err != nil {
			return err
		}
		for _, d := range s.declared {
			if d.ID == sub.ID {
				return fmt.Errorf("subscription id %s is declared twice", sub.ID)
			}
		}
		s.declared = append(s.declared, sub)
	}
	return nil
}

// Start connects the backend and starts the declared subscriptions.
func (s *Service) Start(ctx context.Context) error {
	if err := s.backend.Start(ctx); err != nil {
		return fmt.Errorf("events bus: %w", err)
	}
	if s.outbox != nil {
		if err := startOutbox(ctx, s.outbox, s.backend); err != nil {
			return errors.Join(err, s.backend.Close())
		}
	}
	s.pub = s.backend.Publisher()
	s.started.Store(true)
	for _, sub := range s.declared {
		if _, err := s.Subscribe(ctx, sub); err != nil {
			_ = s.Stop(context.WithoutCancel(ctx))
			return err
		}
	}
	return nil
}

// Stop drains every running subscription (in-flight handlers finish; their publishes still
// work), then refuses publishes and closes the backend.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	running := make([]*Running, 0, len(s.running))
	for _, r := range s.running {
		running = append(running, r)
	}
	s.mu.Unlock()
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, r := range running {
		wg.Go(func() { errs[i] = r.Close(ctx) })
	}
	wg.Wait()
	s.closed.Store(true)
	if s.started.Load() {
		if s.outbox != nil {
			errs = append(errs, s.outbox.Close())
		}
		errs = append(errs, s.backend.Close())
	}
	return errors.Join(errs...)
}

// Subscribers returns the ids of the declared subscriptions that receive topic, sorted: who
// should handle an event of it (the operator console shows where each stands).
func (s *Service) Subscribers(topic string) []string {
	var out []string
	for _, sub := range s.declared {
		if slices.Contains(sub.Topics, topic) {
			out = append(out, sub.ID)
		}
	}
	slices.Sort(out)
	return out
}

// Publish puts e on the bus and returns once the backend holds it (see [Backend]). A
// correlation id and traceparent in ctx (a handler's context has both) are added to the event
// unless it has its own; see [Prepare]. It fails with ErrClosed once the bus stops.
func (s *Service) Publish(ctx context.Context, e Event) error {
	if s.closed.Load() || !s.started.Load() {
		return ErrClosed
	}
	e, err := prepare(ctx, e, 2)
	if err != nil {
		return err
	}
	msg := toMessage(e)
	msg.SetContext(ctx)
	if err := s.pub.Publish(e.Topic, msg); err != nil {
		if s.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("publish to %s: %w", e.Topic, err)
	}
	s.metrics.published.WithLabelValues(e.Topic).Inc()
	return nil
}

// Subscribe starts a subscription now and returns it; Close it to stop. An id already running
// in this process is refused. The backend's subscribe is synchronous: a missing topic (Kafka
// without topic creation) fails here, naming it.
func (s *Service) Subscribe(_ context.Context, sub Subscription) (*Running, error) {
	if s.closed.Load() || !s.started.Load() {
		return nil, ErrClosed
	}
	if err := sub.validate(); err != nil {
		return nil, err
	}
	retry := s.retry
	if sub.Retry != nil {
		retry = *sub.Retry
	}
	concurrency := sub.Concurrency
	if concurrency == 0 {
		concurrency = DefaultConcurrency
	}
	base, cancel := context.WithCancel(context.Background())
	r := &Running{
		sub: sub, svc: s, retry: retry,
		log:      s.log.With().Str("subscription", sub.ID).Logger(),
		sem:      make(chan struct{}, concurrency),
		base:     base,
		draining: make(chan struct{}),
		stopping: make(chan struct{}),
	}
	r.cancelBase = cancel
	s.mu.Lock()
	if _, dup := s.running[sub.ID]; dup {
		s.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("subscription %s is already running in this process", sub.ID)
	}
	s.running[sub.ID] = r
	s.mu.Unlock()
	if err := r.start(concurrency); err != nil {
		s.forget(r)
		cancel()
		return nil, err
	}
	r.log.Debug().Strs("topics", sub.Topics).Msg("subscription started")
	return r, nil
}

func (s *Service) forget(r *Running) {
	s.mu.Lock()
	if s.running[r.sub.ID] == r {
		delete(s.running, r.sub.ID)
	}
	s.mu.Unlock()
}

// Redeliver hands e to the subscription's handler again, outside the bus (a dead-letter
// replay), with the subscription's retry policy. It goes through the subscription's per-key
// exclusion: while a live event with the same topic and key is being handled (retry waits
// included), the replay waits for it, and live events of the key wait for the replay. done
// is called with nil once the event was handled or dead-lettered again, or with an error when
// the subscription stopped first. Only this process's deliveries are excluded: with a bus
// shared by several instances, a live event of the key may be handled by another one.
func (s *Service) Redeliver(subscription string, e Event, done func(error)) error {
	s.mu.Lock()
	r := s.running[subscription]
	if r != nil {
		r.replays.Add(1)
	}
	s.mu.Unlock()
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNotRunning, subscription)
	}
	go func() {
		defer r.replays.Done()
		done(r.process(e))
	}()
	return nil
}

// Health reports whether the bus is reachable.
func (s *Service) Health(ctx context.Context) error { return s.backend.Health(ctx) }

// Detail is what the readiness report says of the bus beyond up or down: an outbox's lag,
// and whether the backend it relays to answers; empty when there is nothing to add.
func (s *Service) Detail(ctx context.Context) string {
	if d, ok := s.backend.(Detailer); ok {
		return d.Detail(ctx)
	}
	if s.outbox != nil && s.started.Load() {
		return outboxDetail(ctx, s.outbox, s.backend)
	}
	return ""
}

// Prepare validates e and fills in what Publish adds: a new UUID as id, now as time, the
// correlation id of ctx (else the event's own id) and the traceparent of ctx (else a new
// trace). Test fakes use it to record events as the bus would carry them.
func Prepare(ctx context.Context, e Event) (Event, error) { return prepare(ctx, e, 0) }

// PrepareBatch prepares the events of one batch as Prepare does, except that without a
// traceparent in ctx they all join one new trace.
func PrepareBatch(ctx context.Context, events []Event) ([]Event, error) {
	return prepareBatch(ctx, events, 0)
}

func prepareBatch(ctx context.Context, events []Event, extra int) ([]Event, error) {
	if len(events) > 1 && TraceparentFromContext(ctx) == "" {
		ctx = ContextWithTraceparent(ctx, newTraceparent())
	}
	out := make([]Event, len(events))
	for i, e := range events {
		var err error
		if out[i], err = prepare(ctx, e, extra); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prepare is Prepare with room for extra metadata entries in the new map.
func prepare(ctx context.Context, e Event, extra int) (Event, error) {
	if err := e.validate(); err != nil {
		return Event{}, err
	}
	if e.ID == "" {
		e.ID = watermill.NewUUID()
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	meta := make(map[string]string, len(e.Metadata)+2+extra)
	for k, v := range e.Metadata {
		meta[k] = v
	}
	if meta[MetaCorrelationID] == "" {
		corr := CorrelationIDFromContext(ctx)
		if corr == "" {
			corr = e.ID
		}
		meta[MetaCorrelationID] = corr
	}
	if meta[MetaTraceparent] == "" {
		tp := TraceparentFromContext(ctx)
		if tp == "" {
			tp = newTraceparent()
		}
		meta[MetaTraceparent] = tp
	}
	e.Metadata = meta
	return e, nil
}

// toMessage maps a prepared event to a Watermill message. The message takes over the event's
// metadata map (prepare made it for this publish) and adds the key and the time to it.
func toMessage(e Event) *message.Message {
	msg := message.NewMessage(e.ID, e.Payload)
	msg.Metadata = e.Metadata
	if e.Key != "" {
		msg.Metadata[MetaKeyHeader] = e.Key
	}
	msg.Metadata[MetaTimeHeader] = strconv.FormatInt(e.Time.UnixNano(), 10)
	return msg
}

// eventFromMessage maps a received message back to an event. Metadata under the reserved
// prefix (the key, the time, a backend's own bookkeeping) is not shown to handlers.
func eventFromMessage(msg *message.Message, topic string) Event {
	// A clone copies the map's table at once, cheaper than inserting entry by entry; the
	// bus's own entries are then taken out.
	e := Event{ID: msg.UUID, Topic: topic, Payload: msg.Payload, Metadata: maps.Clone(msg.Metadata)}
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	for k, v := range msg.Metadata {
		if !strings.HasPrefix(k, reservedPrefix) {
			continue
		}
		switch k {
		case MetaKeyHeader:
			e.Key = v
		case MetaTimeHeader:
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				e.Time = time.Unix(0, ns).UTC()
			}
		}
		delete(e.Metadata, k)
	}
	return e
}

// Params are the fx inputs of the service. The declared subscriptions are not among them:
// modules that subscribe usually publish too, and depend on the service.
type Params struct {
	fx.In
	Lifecycle   fx.Lifecycle
	Bus         BusName
	Retry       RetryPolicy
	Backends    []BackendFactory `group:"eventsvc.backends"`
	DeadLetters DeadLetterStore
	Logger      zerolog.Logger
	Registerer  prometheus.Registerer
	// Outbox, from the SQL bus module, keeps the events published in transactions on a bus
	// that cannot.
	Outbox OutboxFactory `optional:"true"`
}

// declared is the "eventsvc.subscriptions" group.
type declared struct {
	fx.In
	Subscriptions []Subscription `group:"eventsvc.subscriptions"`
}

// provide selects the backend named by events.bus and builds the service, started and
// stopped with the application.
func provide(p Params) (*Service, error) {
	var backend Backend
	var names []string
	for _, f := range p.Backends {
		names = append(names, f.Name)
		if f.Name == string(p.Bus) {
			b, err := f.New()
			if err != nil {
				return nil, fmt.Errorf("events bus %s: %w", f.Name, err)
			}
			backend = b
		}
	}
	if backend == nil {
		return nil, config.Problems{{Path: "events.bus", Message: fmt.Sprintf("unknown bus %q; use one of %v", p.Bus, names)}}
	}
	var outbox Outbox
	if _, ok := backend.(TxBackend); !ok && p.Outbox.New != nil {
		o, err := p.Outbox.New()
		if err != nil {
			return nil, fmt.Errorf("events outbox: %w", err)
		}
		outbox = o
	}
	s, err := New(Options{
		Backend: backend, Retry: p.Retry, DeadLetters: p.DeadLetters, Outbox: outbox,
		Logger: p.Logger.With().Str("module", "events").Logger(), Registerer: p.Registerer,
	})
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StartStopHook(s.Start, s.Stop))
	return s, nil
}

// Module provides the *Service (also as Publisher, BatchPublisher and TxPublisher) from events.bus and events.retry, with a
// readiness check for the bus, and declares every subscription of the
// "eventsvc.subscriptions" group to it (the module's one Invoke: it binds declarations, so
// that the service starts them in OnStart, before the HTTP server accepts events). A backend
// module (eventsvc/memory, eventsvc/kafka) and a DeadLetterStore (eventsvc/deadletter) must be
// present.
var Module = fx.Module("eventsvc",
	config.Provide[BusName]("events.bus"),
	config.Provide[RetryPolicy]("events.retry"),
	fx.Provide(
		provide,
		func(s *Service) Publisher { return s },
		func(s *Service) BatchPublisher { return s },
		func(s *Service) TxPublisher { return s },
		health.AsCheck(func(s *Service) health.Check {
			return health.Check{Name: "events", Check: s.Health, Detail: s.Detail}
		}),
	),
	fx.Invoke(func(s *Service, d declared) error { return s.Declare(d.Subscriptions...) }),
)
