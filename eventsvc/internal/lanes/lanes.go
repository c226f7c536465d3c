package lanes

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/stagebus/stagebus/internal/background"
)

// NackResendPause is how long a lane waits before handing a nacked message over again.
const NackResendPause = 10 * time.Millisecond

// Dispatcher owns the lanes of one subscriber or consumer group.
type Dispatcher struct {
	lanes   []*lane
	keyMeta string
	done    func(msg *message.Message)
	closing chan struct{}
	base    context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu          sync.Mutex
	members     []*Member
	changed     chan struct{} // closed and replaced whenever members join or leave
	outstanding int           // messages handed over and not yet acked or nacked
	idle        chan struct{} // closed and replaced whenever outstanding drops to zero
}

// Member is one consumer of a dispatcher, with its own output channel.
type Member struct {
	out     chan *message.Message
	left    chan struct{}
	senders sync.WaitGroup
}

// Output is the member's channel; it is closed by Leave.
func (m *Member) Output() <-chan *message.Message { return m.out }

type lane struct {
	mu    sync.Mutex
	queue []*message.Message
	wake  chan struct{}
}

// New starts a dispatcher with n lanes that reads keys from metadata keyMeta and hands messages
// to the Output channel. done, when not nil, is called from the lane's goroutine with every
// message once it was acked (a copy of the one added, when it was nacked before).
func New(n int, keyMeta string, done func(msg *message.Message)) *Dispatcher {
	base, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{
		lanes:   make([]*lane, n),
		changed: make(chan struct{}),
		idle:    make(chan struct{}),
		keyMeta: keyMeta,
		done:    done,
		closing: make(chan struct{}),
		base:    base,
		cancel:  cancel,
	}
	for i := range d.lanes {
		l := &lane{wake: make(chan struct{}, 1)}
		d.lanes[i] = l
		d.wg.Add(1)
		go d.run(i, l)
	}
	return d
}

// Join adds a member; lanes start handing messages to it.
func (d *Dispatcher) Join() *Member {
	m := &Member{out: make(chan *message.Message), left: make(chan struct{})}
	d.mu.Lock()
	d.members = append(d.members, m)
	d.notifyLocked()
	d.mu.Unlock()
	return m
}

// Leave removes a member: no lane hands it anything more, and its channel is closed. Messages
// it holds unacknowledged stay with it; their lanes wait for the ack or nack.
func (d *Dispatcher) Leave(m *Member) {
	d.mu.Lock()
	for i, x := range d.members {
		if x == m {
			d.members = append(d.members[:i:i], d.members[i+1:]...)
			close(m.left)
			d.notifyLocked()
			d.mu.Unlock()
			m.senders.Wait()
			close(m.out)
			return
		}
	}
	d.mu.Unlock()
}

// WaitIdle returns once no handed-over message awaits its ack or nack, or when stop closes.
func (d *Dispatcher) WaitIdle(stop <-chan struct{}) {
	for {
		d.mu.Lock()
		n, idle := d.outstanding, d.idle
		d.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-idle:
		case <-stop:
			return
		}
	}
}

// settled records the end of a hand-over.
func (d *Dispatcher) settled() {
	d.mu.Lock()
	d.outstanding--
	if d.outstanding == 0 {
		close(d.idle)
		d.idle = make(chan struct{})
	}
	d.mu.Unlock()
}

func (d *Dispatcher) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// pick returns the member that lane i hands to, registered as a sender; or nil and a channel
// that is closed when the members change.
func (d *Dispatcher) pick(i int) (*Member, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.members) == 0 {
		return nil, d.changed
	}
	m := d.members[i%len(d.members)]
	m.senders.Add(1)
	return m, nil
}

// Lane returns the index of the lane a key maps to.
func (d *Dispatcher) Lane(key string) int {
	if key == "" {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(len(d.lanes)))
}

// Add queues msg on its key's lane. It never blocks.
func (d *Dispatcher) Add(msg *message.Message) {
	l := d.lanes[d.Lane(msg.Metadata.Get(d.keyMeta))]
	l.mu.Lock()
	l.queue = append(l.queue, msg)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Close stops the lanes and makes every remaining member leave. Messages not yet handed over
// stay unacknowledged; a message handed over but not yet acked or nacked is given up: its
// context is cancelled and a later ack is not reported to done. Callers that need those acks
// (the Kafka backend, to commit them) let their consumers finish before closing.
func (d *Dispatcher) Close() {
	select {
	case <-d.closing:
		return
	default:
	}
	close(d.closing)
	d.cancel()
	d.wg.Wait()
	d.mu.Lock()
	members := append([]*Member(nil), d.members...)
	d.mu.Unlock()
	for _, m := range members {
		d.Leave(m)
	}
}

// handOver sends msg to lane i's member, waiting for one to join or to change; false when the
// dispatcher closes first.
func (d *Dispatcher) handOver(i int, msg *message.Message) bool {
	for {
		m, changed := d.pick(i)
		if m == nil {
			select {
			case <-changed:
				continue
			case <-d.closing:
				return false
			}
		}
		select {
		case m.out <- msg:
			d.mu.Lock()
			d.outstanding++
			d.mu.Unlock()
			m.senders.Done()
			return true
		case <-m.left:
			m.senders.Done()
		case <-d.closing:
			m.senders.Done()
			return false
		}
	}
}

// Pending returns the number of queued messages not yet acked, for tests and metrics.
func (d *Dispatcher) Pending() int {
	n := 0
	for _, l := range d.lanes {
		l.mu.Lock()
		n += len(l.queue)
		l.mu.Unlock()
	}
	return n
}

func (d *Dispatcher) run(i int, l *lane) {
	defer d.wg.Done()
	for {
		l.mu.Lock()
		var msg *message.Message
		if len(l.queue) > 0 {
			msg = l.queue[0]
		}
		l.mu.Unlock()
		if msg == nil {
			select {
			case <-l.wake:
				continue
			case <-d.closing:
				return
			}
		}
		acked, ok := d.deliver(i, msg)
		if !ok {
			return
		}
		l.mu.Lock()
		l.queue[0] = nil
		l.queue = l.queue[1:]
		l.mu.Unlock()
		if d.done != nil {
			d.done(acked)
		}
	}
}

// deliver hands msg over until it is acked and returns the acked message (a copy of msg when
// it was nacked before); false when the dispatcher closes first. Each hand-over gets a
// context that is cancelled once the message is acked or nacked, or given up.
func (d *Dispatcher) deliver(i int, msg *message.Message) (*message.Message, bool) {
	for {
		ctx, cancel := context.WithCancel(d.base)
		msg.SetContext(ctx)
		if !d.handOver(i, msg) {
			cancel()
			return nil, false
		}
		select {
		case <-msg.Acked():
			cancel()
			d.settled()
			return msg, true
		case <-msg.Nacked():
			cancel()
			d.settled()
		case <-d.closing:
			cancel()
			d.settled()
			return nil, false
		}
		// Redeliver a fresh copy: a Watermill message is acked or nacked once.
		msg = msg.Copy()
		if background.Sleep(d.base, NackResendPause) != nil { // d.base ends when the dispatcher closes
			return nil, false
		}
	}
}
