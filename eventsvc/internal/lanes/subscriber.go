package lanes

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// JoinFunc joins this instance's consumption of topic for a consumer group and returns its
// dispatcher and how to leave it again. leave is called while the member still consumes, so
// that a backend stopping its last member can first drain the dispatcher to it (see
// [Dispatcher.Drain]); stop closes when the subscriber closes — it is closed already when that
// is why the member leaves — and ends such a drain. The member leaves the dispatcher once
// leave returns.
type JoinFunc func(topic string) (d *Dispatcher, leave func(stop <-chan struct{}), err error)

// Subscriber is a member of a consumer group, as a Watermill subscriber over a backend's
// per-group dispatchers: each Subscribe joins the topic's dispatcher as a member and leaves
// it when its context ends or the subscriber closes.
type Subscriber struct {
	join JoinFunc

	mu      sync.Mutex
	stop    chan struct{}
	closed  bool
	members sync.WaitGroup
}

// NewSubscriber returns a member whose Subscribe joins through join.
func NewSubscriber(join JoinFunc) *Subscriber {
	return &Subscriber{join: join, stop: make(chan struct{})}
}

var _ message.Subscriber = (*Subscriber)(nil)

// Subscribe joins the group's dispatcher of topic. Messages are delivered per key lane; the
// channel closes when ctx ends or the subscriber closes. A ctx marked with [ConsumerSettles]
// joins as a member whose consumer calls [Settle].
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("subscriber closed")
	}
	d, leave, err := s.join(topic)
	if err != nil {
		return nil, err
	}
	m := d.Join(Settles(ctx))
	s.members.Go(func() {
		select {
		case <-ctx.Done():
		case <-s.stop:
		}
		leave(s.stop)
		d.Leave(m)
	})
	return m.Output(), nil
}

// Close ends every Subscribe of this member and returns once each has left (what leaving
// means — waiting for acknowledgements, recording offsets — is the backend's).
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.members.Wait()
	return nil
}

type settlesKey struct{}

// ConsumerSettles marks the context of a Subscribe: its caller promises to call [Settle] once
// with every message it receives from the channel, right after acking or nacking it, so that
// the lanes learn of acks without a goroutine waiting for each. Subscribers built on lanes
// honour the mark; others ignore it, which is harmless since Settle then does nothing.
func ConsumerSettles(ctx context.Context) context.Context {
	return context.WithValue(ctx, settlesKey{}, true)
}

// Settles reports whether ctx was marked with [ConsumerSettles].
func Settles(ctx context.Context) bool {
	v, _ := ctx.Value(settlesKey{}).(bool)
	return v
}
