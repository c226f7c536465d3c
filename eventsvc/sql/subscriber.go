package sqlbus

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/stagebus/stagebus/eventsvc"
)

// Subscriber returns a new member of the consumer group.
func (b *Bus) Subscriber(group string) (message.Subscriber, error) {
	if b.closed.Load() {
		return nil, eventsvc.ErrClosed
	}
	return &subscriber{bus: b, group: group, stop: make(chan struct{})}, nil
}

// join adds a member to this instance's reader of the group's topic, starting it for the
// first one.
func (b *Bus) join(group, topic string) (*reader, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, eventsvc.ErrClosed
	}
	if b.hub == nil {
		return nil, errors.New("events.sql: Subscribe before Start")
	}
	key := groupTopic{group, topic}
	if r := b.readers[key]; r != nil {
		r.members++
		return r, nil
	}
	r := newReader(b, group, topic)
	r.members = 1
	b.readers[key] = r
	go r.run()
	return r, nil
}

// leave removes a member; the last one stops the reader (see reader.shutdown).
func (b *Bus) leave(r *reader, abort bool) {
	b.mu.Lock()
	r.members--
	last := r.members == 0
	if last && b.readers[groupTopic{r.group, r.topic}] == r {
		delete(b.readers, groupTopic{r.group, r.topic})
	}
	b.mu.Unlock()
	if last {
		r.shutdown(abort)
	}
}

type subscriber struct {
	bus   *Bus
	group string

	mu      sync.Mutex
	stop    chan struct{}
	closed  bool
	members sync.WaitGroup
}

// Subscribe joins the group's subscription of topic. Messages are delivered per key lane; the
// channel closes when ctx ends or the subscriber closes. When ctx ends, the last member of
// this instance waits for the messages it handed out to be acked or nacked before recording
// the offset and releasing the group's lease.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("subscriber closed")
	}
	r, err := s.bus.join(s.group, topic)
	if err != nil {
		return nil, err
	}
	m := r.lanes.Join()
	s.members.Go(func() {
		abort := false
		select {
		case <-ctx.Done():
		case <-s.stop:
			abort = true
		}
		r.lanes.Leave(m)
		s.bus.leave(r, abort)
	})
	return m.Output(), nil
}

// Close ends every Subscribe of this member without waiting for unacknowledged messages (they
// are delivered again, here or in another instance) and returns once the offsets of what was
// acknowledged are recorded. The EventsService closes a subscriber only after its handlers
// finished.
func (s *subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.members.Wait()
	return nil
}
