package eventsvc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/eventsvc/internal/lanes"
)

// Handler handles one event. Returning an error (or panicking) makes the bus try again later;
// handlers must therefore be idempotent. The context carries the event's correlation id,
// traceparent and a logger (zerolog.Ctx).
type Handler func(ctx context.Context, e Event) error

// DefaultConcurrency is a subscription's concurrency when it sets none.
const DefaultConcurrency = 16

// Subscription declares interest in topics under an id that is the consumer group.
type Subscription struct {
	// ID names the subscription across restarts and instances, e.g. catalog.github-provider.
	ID string
	// Topics are the topics to receive.
	Topics []string
	// Handler is called for each event.
	Handler Handler
	// Concurrency bounds the handler calls running at once in this process (default 16).
	// Events with the same key never run at once, whatever this says.
	Concurrency int
	// Retry replaces events.retry for this subscription when set.
	Retry *RetryPolicy
}

// AsSubscription annotates a constructor returning a Subscription so that it joins the
// "eventsvc.subscriptions" group; the eventsvc module starts it.
func AsSubscription(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"eventsvc.subscriptions"`))
}

// AsSubscriptions is AsSubscription for a constructor returning []Subscription (and
// optionally an error): each one joins the group.
func AsSubscriptions(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"eventsvc.subscriptions,flatten"`))
}

func (s Subscription) validate() error {
	if s.ID == "" {
		return errors.New("subscription needs an id")
	}
	if err := ValidateTopic(s.ID); err != nil {
		return fmt.Errorf("subscription id %q: letters, digits, '.', '_', '-' and ':' only", s.ID)
	}
	if len(s.Topics) == 0 {
		return fmt.Errorf("subscription %s needs at least one topic", s.ID)
	}
	for _, t := range s.Topics {
		if err := ValidateTopic(t); err != nil {
			return fmt.Errorf("subscription %s: %w", s.ID, err)
		}
	}
	if s.Handler == nil {
		return fmt.Errorf("subscription %s needs a handler", s.ID)
	}
	if s.Concurrency < 0 {
		return fmt.Errorf("subscription %s: concurrency must not be negative", s.ID)
	}
	if s.Retry != nil {
		if err := s.Retry.Validate(); err != nil {
			return fmt.Errorf("subscription %s: retry: %w", s.ID, err)
		}
	}
	return nil
}

// topicKey is an event's ordering key within its topic.
type topicKey struct{ topic, key string }

// errStopping aborts work that has not finished when a subscription stops; the message is
// nacked, so a durable backend delivers it again.
var errStopping = errors.New("subscription stopping")

// Running is a started subscription. Close it to stop.
//
// Each topic's messages are read by a fixed pool of workers (the subscription's concurrency),
// which also bounds how many handlers run at once. Workers are long-lived, so that a busy
// subscription does not start a goroutine per message as Watermill's Router would.
type Running struct {
	sub        Subscription
	svc        *Service
	retry      RetryPolicy
	subscriber message.Subscriber
	log        zerolog.Logger
	sem        chan struct{}
	metrics    map[string]*subscriptionMetrics // by topic; fixed after start
	// keys holds each (topic, key) being handled, live or replayed: the backend's lanes
	// hand over one live event per key at a time, and keys makes replays (which do not come
	// through the backend) wait for it, and live events for them.
	keys lanes.Keys[topicKey]

	// base is the parent of handler contexts; cancelled only when Close gives up waiting.
	base       context.Context
	cancelBase context.CancelFunc
	// cancelSub ends the backend subscriptions: their channels close and the workers return.
	cancelSub context.CancelFunc
	workers   sync.WaitGroup
	// draining is closed when Close begins: the backend hands out what it fetched (see
	// Close), and retry waits end, the event being nacked.
	draining chan struct{}
	// stopping is closed when Close gives up waiting: events not yet handled are nacked.
	stopping  chan struct{}
	replays   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// ID returns the subscription id.
func (r *Running) ID() string { return r.sub.ID }

// start subscribes to every topic and starts the workers.
func (r *Running) start(concurrency int) error {
	sb, err := r.svc.backend.Subscriber(r.sub.ID)
	if err != nil {
		return fmt.Errorf("subscription %s: %w", r.sub.ID, err)
	}
	r.subscriber = sb
	subCtx, cancel := context.WithCancel(context.Background())
	r.cancelSub = cancel
	r.metrics = make(map[string]*subscriptionMetrics, len(r.sub.Topics))
	for _, topic := range r.sub.Topics {
		r.metrics[topic] = r.svc.metrics.forSubscription(topic, r.sub.ID)
		ch, err := sb.Subscribe(lanes.ConsumerSettles(subCtx), topic)
		if err != nil {
			cancel()
			r.workers.Wait()
			_ = sb.Close()
			return fmt.Errorf("subscription %s: topic %s: %w", r.sub.ID, topic, err)
		}
		for range concurrency {
			r.workers.Go(func() {
				for msg := range ch {
					if err := r.process(eventFromMessage(msg, topic)); err != nil {
						msg.Nack()
					} else {
						msg.Ack()
					}
					lanes.Settle(msg) // as promised to Subscribe
				}
			})
		}
	}
	return nil
}

// Close stops delivery gracefully: the backend stops fetching and hands out what it fetched
// already, and the workers handle it — so that what was handled can be acknowledged in order,
// and nothing handled is delivered again after a restart. Retry waits end at once: those
// events are nacked, for the backend to deliver again. Once the channels closed and the
// handlers returned, the subscriber closes, recording the acknowledgements. When ctx ends
// first, events not yet handled are nacked and the handlers' contexts are cancelled.
func (r *Running) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.svc.forget(r) // no new replays from here on
		close(r.draining)
		r.cancelSub()
		done := make(chan error, 1)
		go func() {
			r.workers.Wait()
			r.replays.Wait()
			done <- r.subscriber.Close()
		}()
		select {
		case r.closeErr = <-done:
		case <-ctx.Done():
			close(r.stopping)
			r.cancelBase()
			r.closeErr = fmt.Errorf("subscription %s: handlers still running when the stop timeout ended: %w", r.sub.ID, ctx.Err())
		}
		r.cancelBase()
		r.log.Debug().Msg("subscription stopped")
	})
	return r.closeErr
}

// process runs the handler with retries and dead-letters the event after the last attempt,
// holding the event's key (topic and key) throughout, so that a replay and a live event with
// the same key never run at once. It returns nil once the event is handled or dead-lettered (the backend then acks it), or
// errStopping when the subscription stops first (the backend then nacks it).
func (r *Running) process(ev Event) error {
	select {
	case <-r.stopping: // checked first: a select picks at random among ready cases
		return errStopping
	default:
	}
	if ev.Key != "" { // taken before a concurrency slot: a waiting replay holds none
		release, ok := r.keys.Acquire(topicKey{ev.Topic, ev.Key}, r.stopping)
		if !ok {
			return errStopping
		}
		defer release()
	}
	select {
	case r.sem <- struct{}{}:
	case <-r.stopping:
		return errStopping
	}
	defer func() { <-r.sem }()
	m := r.metrics[ev.Topic]
	if m == nil { // a replayed dead letter of a topic the subscription no longer has
		m = r.svc.metrics.forSubscription(ev.Topic, r.sub.ID)
	}
	m.inFlight.Inc()
	defer m.inFlight.Dec()

	ctx, log := r.handlerContext(ev)
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			m.retries.Inc()
		}
		start := time.Now()
		err := r.call(ctx, ev)
		m.duration.Observe(time.Since(start).Seconds())
		if err == nil {
			m.delivered.Inc()
			return nil
		}
		m.errors.Inc()
		if attempt >= r.retry.MaxAttempts {
			log.Error().Err(err).Int("attempt", attempt).Msg("handler failed on its last attempt; dead-lettering the event")
			if err := r.deadLetter(ev, err, attempt); err != nil {
				return err
			}
			m.deadLettered.Inc()
			return nil
		}
		wait := r.retry.backoff(attempt, rand.Float64())
		log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("handler failed; will retry")
		if !r.sleep(wait) {
			return errStopping
		}
	}
}

// call runs the handler once, turning a panic into an error (and a log line with the stack).
func (r *Running) call(ctx context.Context, ev Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			zerolog.Ctx(ctx).Error().Str("stack", string(debug.Stack())).Msg("handler panicked")
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return r.sub.Handler(ctx, ev)
}

// deadLetter writes the event to the dead-letter store, trying again until it succeeds or the
// subscription stops: an event is acknowledged only once it is stored.
func (r *Running) deadLetter(ev Event, cause error, attempts int) error {
	d := DeadLetter{Subscription: r.sub.ID, Topic: ev.Topic, Event: ev, Error: cause.Error(), Attempts: attempts, FailedAt: time.Now()}
	for try := 1; ; try++ {
		err := r.svc.deadLetters.Add(r.base, d)
		if err == nil {
			return nil
		}
		wait := r.retry.backoff(try, rand.Float64())
		r.log.Error().Err(err).Str("event_id", ev.ID).Dur("retry_in", wait).Msg("cannot write the dead letter; will retry")
		if !r.sleep(wait) {
			return errStopping
		}
	}
}

// sleep waits d, or returns false as soon as the subscription begins to stop.
func (r *Running) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.draining:
		return false
	}
}

// handlerContext builds the handler's context from the subscription's base context.
func (r *Running) handlerContext(ev Event) (context.Context, *zerolog.Logger) {
	ctx := NewHandlerContext(r.base, ev, r.log)
	return ctx, zerolog.Ctx(ctx)
}

// NewHandlerContext returns the context a handler receives for ev: the event
// ([EventFromContext]), its correlation id, a new span of its trace, and log with those as
// fields (zerolog.Ctx). The bus builds it for every delivery; test fakes use it to call
// handlers the same way.
func NewHandlerContext(parent context.Context, ev Event, log zerolog.Logger) context.Context {
	c := &deliveryContext{ev: ev}
	corr := ev.Metadata[MetaCorrelationID]
	tp := childTraceparent(ev.Metadata[MetaTraceparent])
	c.ec = eventContext{event: &c.ev, correlation: corr, traceparent: tp}
	c.fields = eventFields{topic: ev.Topic, id: ev.ID, correlation: corr, traceID: tp[3:35]}
	// A hook adds the fields to each line when it is written, so that a delivery whose
	// handler logs nothing does not pay for encoding them.
	l := log.Hook(&c.fields)
	c.Context = l.WithContext(parent)
	return c
}

// deliveryContext is a handler's context: the event, its correlation id and span under
// eventContextKey, and the fields of its log lines, in one allocation (the bus makes one for
// every delivery).
type deliveryContext struct {
	context.Context // the parent, with the logger
	ec              eventContext
	ev              Event
	fields          eventFields
}

func (c *deliveryContext) Value(key any) any {
	if key == (eventContextKey{}) {
		return &c.ec
	}
	return c.Context.Value(key)
}

// eventFields is the zerolog hook that adds an event's fields to a handler's log lines.
type eventFields struct{ topic, id, correlation, traceID string }

func (f eventFields) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("topic", f.topic).Str("event_id", f.id).Str("correlation_id", f.correlation).Str("trace_id", f.traceID)
}
