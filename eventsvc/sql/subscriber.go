package sqlbus

import (
	"errors"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/internal/lanes"
)

// Subscriber returns a new member of the consumer group. Its Subscribe joins this instance's
// reader of the topic; when the Subscribe's context ends, the reader's last member stops
// reading, is handed what was read (see lanes.Dispatcher.Drain) and waits for it to be acked or
// nacked before recording the offsets and releasing the group's leases. Close does not wait
// for unacknowledged messages (they are delivered again, here or in another instance) and
// returns once the offsets of what was acknowledged are recorded; the EventsService closes a
// subscriber only after its handlers finished.
func (b *Bus) Subscriber(group string) (message.Subscriber, error) {
	if b.closed.Load() {
		return nil, eventsvc.ErrClosed
	}
	return lanes.NewSubscriber(func(topic string) (*lanes.Dispatcher, func(<-chan struct{}), error) {
		r, err := b.join(group, topic)
		if err != nil {
			return nil, nil, err
		}
		return r.lanes, func(stop <-chan struct{}) { b.leave(r, stop) }, nil
	}), nil
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

// leave removes a member; the last one stops the reader (see reader.shutdown), aborting when
// stop closes.
func (b *Bus) leave(r *reader, stop <-chan struct{}) {
	b.mu.Lock()
	r.members--
	last := r.members == 0
	if last && b.readers[groupTopic{r.group, r.topic}] == r {
		delete(b.readers, groupTopic{r.group, r.topic})
	}
	b.mu.Unlock()
	if last {
		r.shutdown(stop)
	}
}
