package lanes

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// NackResendPause is how long a lane waits before handing a nacked message over again.
const NackResendPause = 10 * time.Millisecond

// Dispatcher owns the lanes of one subscriber or consumer group. It runs no goroutine of its
// own: a lane hands its next message over from whichever call frees it — Add for an idle
// lane, the settling of the previous message (see [Settle]), a member joining or leaving.
type Dispatcher struct {
	keyMeta string
	done    func(msg *message.Message, pos Position)

	mu          sync.Mutex
	closed      bool
	draining    bool // see Drain: a nack gives up its lane instead of handing it over again
	lanes       []lane
	members     []*Member
	outstanding int           // messages handed over and not yet acked or nacked
	idle        chan struct{} // closed and replaced whenever outstanding drops to zero
	watchers    sync.WaitGroup
}

// Member is one consumer of a dispatcher, with its own output channel.
type Member struct {
	// out holds at most one message per lane (a lane hands over one message at a time), so
	// with room for every lane a hand-over never blocks.
	out     chan *message.Message
	settles bool // its consumer calls Settle: no goroutine waits for its acks
}

// Output is the member's channel; it is closed by Leave.
func (m *Member) Output() <-chan *message.Message { return m.out }

// Position is where a message came from in its backend — a partition and an offset (Kafka)
// or sequence number (the SQL bus) — given with the message to Add and handed back with its
// acknowledgement, so that the message need not carry it.
type Position struct {
	Partition int
	Offset    int64
}

// queued is a message on a lane, with its position.
type queued struct {
	msg *message.Message
	pos Position
}

type lane struct {
	queue []queued  // queue[0] is the message handed over (or about to be) while busy
	busy  bool      // queue[0] is handed over, awaiting its resend, or being reported done
	out   *handover // the hand-over of queue[0] not yet settled; nil when none
	// resend hands a nacked queue[0] over again after NackResendPause.
	resend *time.Timer
}

// handover is one message handed to one member, until it is acked or nacked (settled),
// taken back from a member that left before receiving it, or given up by Close. It is the
// message's context meanwhile (one allocation per hand-over, where a cancellable context
// with a value would be three and a registration with its parent): it carries no deadline
// and no values but itself, and ends with the hand-over.
type handover struct {
	d    *Dispatcher
	lane int
	msg  *message.Message

	mu   sync.Mutex
	done chan struct{} // made by the first Done
	err  error         // context.Canceled once the hand-over ended
}

type handoverKey struct{}

var _ context.Context = (*handover)(nil)

func (h *handover) Deadline() (time.Time, bool) { return time.Time{}, false }

func (h *handover) Done() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
		if h.err != nil {
			close(h.done)
		}
	}
	return h.done
}

func (h *handover) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *handover) Value(key any) any {
	if key == (handoverKey{}) {
		return h
	}
	return nil
}

// end ends the message's context.
func (h *handover) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = context.Canceled
		if h.done != nil {
			close(h.done)
		}
	}
}

// New starts a dispatcher with n lanes that reads keys from metadata keyMeta and hands messages
// to its members' Output channels. done, when not nil, is called with every message once it was
// acked (a copy of the one added, when it was nacked before) and the position it was added
// with, before the next message of its lane is handed over; it is called from the goroutine
// that settled the message (the consumer's, see [Settle], or one waiting for the ack) and must
// not call the dispatcher.
func New(n int, keyMeta string, done func(msg *message.Message, pos Position)) *Dispatcher {
	return &Dispatcher{
		lanes:   make([]lane, n),
		idle:    make(chan struct{}),
		keyMeta: keyMeta,
		done:    done,
	}
}

// Join adds a member; lanes start handing messages to it. settles tells that the member's
// consumer calls [Settle] with every message it receives, once it acked or nacked it: the
// dispatcher then learns of the ack in that call. Otherwise a goroutine per hand-over waits
// for the ack or nack.
func (d *Dispatcher) Join(settles bool) *Member {
	m := &Member{out: make(chan *message.Message, len(d.lanes)), settles: settles}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.members = append(d.members, m)
	d.dispatchAllLocked()
	return m
}

// Leave removes a member: no lane hands it anything more, messages in its channel that its
// consumer has not received yet go back to their lanes (for the other members), and the
// channel is closed. Messages its consumer holds unacknowledged stay with it; their lanes
// wait for the ack or nack.
func (d *Dispatcher) Leave(m *Member) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, x := range d.members {
		if x != m {
			continue
		}
		d.members = append(d.members[:i:i], d.members[i+1:]...)
		for _, h := range takeBack(m) {
			h.end()
			l := &d.lanes[h.lane]
			l.out, l.busy = nil, false
			d.settledLocked()
		}
		d.dispatchAllLocked()
		return
	}
}

// takeBack closes m's channel and returns the hand-overs its consumer had not received yet.
// The dispatcher's lock is held: no lane hands m anything meanwhile.
func takeBack(m *Member) []*handover {
	var hs []*handover
	for {
		select {
		case msg := <-m.out:
			hs = append(hs, msg.Context().Value(handoverKey{}).(*handover))
		default:
			close(m.out)
			return hs
		}
	}
}

// Drain hands everything queued over to the members and returns once no message is queued
// or handed over, when stop closes, or at once when there is no member. The caller stops
// adding first, so that a graceful stop handles what the backend fetched rather than leaving
// it to be delivered again — which, behind a record that was not handled, would deliver again
// records that were. While draining, a nacked message is not handed over again: its lane gives
// it up with everything queued behind it (for the backend to deliver again later), so that a
// failing handler cannot keep the drain from ending.
func (d *Dispatcher) Drain(stop <-chan struct{}) {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
	for {
		d.mu.Lock()
		empty := d.outstanding == 0 && d.queuedLocked() == 0
		members, idle := len(d.members), d.idle
		d.mu.Unlock()
		if empty || members == 0 {
			return
		}
		select {
		case <-idle:
		case <-stop:
			return
		}
	}
}

// queuedLocked counts the messages queued on the lanes, handed over or not.
func (d *Dispatcher) queuedLocked() int {
	n := 0
	for i := range d.lanes {
		n += len(d.lanes[i].queue)
	}
	return n
}

// settledLocked records the end of a hand-over.
func (d *Dispatcher) settledLocked() {
	d.outstanding--
	if d.outstanding == 0 {
		close(d.idle)
		d.idle = make(chan struct{})
	}
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

// Add queues msg, from position pos, on its key's lane, and hands it over at once when the lane
// is idle and there is a member. It never blocks.
func (d *Dispatcher) Add(msg *message.Message, pos Position) {
	i := d.Lane(msg.Metadata.Get(d.keyMeta))
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	l := &d.lanes[i]
	l.queue = append(l.queue, queued{msg, pos})
	d.dispatchLocked(i)
}

// dispatchAllLocked hands over the head of every idle lane.
func (d *Dispatcher) dispatchAllLocked() {
	for i := range d.lanes {
		d.dispatchLocked(i)
	}
}

// dispatchLocked hands lane i's head over to the lane's member (lane i to member i mod n) if
// the lane is idle, has a message and there is a member.
func (d *Dispatcher) dispatchLocked(i int) {
	l := &d.lanes[i]
	if d.closed || l.busy || len(l.queue) == 0 || len(d.members) == 0 {
		return
	}
	m := d.members[i%len(d.members)]
	msg := l.queue[0].msg
	h := &handover{d: d, lane: i, msg: msg}
	if !m.settles {
		d.watchers.Add(1)
		go d.watch(h)
	}
	msg.SetContext(h)
	l.busy, l.out = true, h
	d.outstanding++
	m.out <- msg // never blocks: see Member.out
}

// watch waits for the ack or nack of a message handed to a member whose consumer does not
// call Settle.
func (d *Dispatcher) watch(h *handover) {
	defer d.watchers.Done()
	select {
	case <-h.msg.Acked():
		d.settle(h, true)
	case <-h.msg.Nacked():
		d.settle(h, false)
	case <-h.Done(): // taken back, or given up by Close
	}
}

// Settle tells the dispatcher that handed msg over that its consumer acked or nacked it: the
// next message of its lane is handed over from this call (after done reported the ack), or,
// after a nack, a fresh copy of msg after NackResendPause. A consumer whose Subscribe context
// was marked with [ConsumerSettles] must call it once with every message it receives, after
// acking or nacking it (until then, its lane waits). For a message of a member without the
// mark it only settles sooner what the dispatcher's own wait would settle; for a message that
// is neither acked nor nacked yet, or not handed over by lanes, it does nothing.
func Settle(msg *message.Message) {
	h, _ := msg.Context().Value(handoverKey{}).(*handover)
	if h == nil || h.msg != msg {
		return
	}
	select {
	case <-msg.Acked():
		h.d.settle(h, true)
	case <-msg.Nacked():
		h.d.settle(h, false)
	default: // neither yet
	}
}

// settle ends hand-over h, acked or nacked, unless it ended already (settled before, taken
// back, or given up by Close).
func (d *Dispatcher) settle(h *handover, acked bool) {
	d.mu.Lock()
	l := &d.lanes[h.lane]
	if d.closed || l.out != h {
		d.mu.Unlock()
		return
	}
	h.end()
	l.out = nil
	if !acked {
		d.settledLocked()
		if d.draining { // give the lane up: see Drain
			clear(l.queue)
			l.queue, l.busy = nil, false
			d.mu.Unlock()
			return
		}
		// Redeliver a fresh copy: a Watermill message is acked or nacked once.
		l.queue[0].msg = h.msg.Copy()
		l.resend = time.AfterFunc(NackResendPause, func() { d.resend(h.lane) })
		d.mu.Unlock()
		return
	}
	pos := l.queue[0].pos
	l.queue[0] = queued{}
	l.queue = l.queue[1:]
	d.mu.Unlock()
	if d.done != nil {
		d.done(h.msg, pos) // before the lane's next hand-over: the lane stays busy meanwhile
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed { // Close settled every hand-over already
		return
	}
	l.busy = false
	d.dispatchLocked(h.lane)
	// Settled only now, after done reported the ack: Drain returns once acks are reported.
	d.settledLocked()
}

// resend hands lane i's nacked head over again.
func (d *Dispatcher) resend(i int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := &d.lanes[i]
	l.resend = nil
	l.busy = false
	d.dispatchLocked(i)
}

// Close stops the lanes and makes every remaining member leave. Messages not yet handed over
// stay unacknowledged; a message handed over but not yet acked or nacked is given up: its
// context is cancelled and a later ack is not reported to done. Callers that need those acks
// (the Kafka backend, to commit them) let their consumers finish before closing.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for i := range d.lanes {
		l := &d.lanes[i]
		if l.resend != nil {
			l.resend.Stop()
		}
		if l.out != nil {
			l.out.end()
			l.out = nil
		}
	}
	for _, m := range d.members {
		takeBack(m) // given up like the rest
	}
	d.members = nil
	if d.outstanding > 0 {
		d.outstanding = 0
		close(d.idle)
		d.idle = make(chan struct{})
	}
	d.mu.Unlock()
	d.watchers.Wait()
}

// Pending returns the number of queued messages not yet acked, for tests and metrics.
func (d *Dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queuedLocked()
}
