package lanes

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const keyMeta = "key"

func msg(id, key string) *message.Message {
	m := message.NewMessage(id, nil)
	if key != "" {
		m.Metadata.Set(keyMeta, key)
	}
	return m
}

// mode is how a member's consumer reports acks and nacks: on the message alone (a goroutine
// of the dispatcher waits for them), or also through Settle.
type mode struct {
	name    string
	settles bool
}

func (md mode) ack(m *message.Message)  { m.Ack(); md.settle(m) }
func (md mode) nack(m *message.Message) { m.Nack(); md.settle(m) }

func (md mode) settle(m *message.Message) {
	if md.settles {
		Settle(m)
	}
}

// eachMode runs test for a member of either mode.
func eachMode(t *testing.T, test func(t *testing.T, md mode)) {
	for _, md := range []mode{{name: "watched"}, {name: "settled", settles: true}} {
		t.Run(md.name, func(t *testing.T) { test(t, md) })
	}
}

// joined starts a dispatcher with one member.
func joined(md mode, n int, done func(*message.Message, Position)) (*Dispatcher, *Member) {
	d := New(n, keyMeta, done)
	return d, d.Join(md.settles)
}

func receive(t *testing.T, m *Member) *message.Message {
	t.Helper()
	select {
	case m := <-m.Output():
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message handed over")
		return nil
	}
}

func nothing(t *testing.T, m *Member) {
	t.Helper()
	select {
	case m := <-m.Output():
		t.Fatalf("unexpected message %s handed over", m.UUID)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestOneUnackedMessagePerKey(t *testing.T) {
	eachMode(t, func(t *testing.T, md mode) {
		defer goleak.VerifyNone(t)
		var mu sync.Mutex
		var done []string
		d, mem := joined(md, 8, func(m *message.Message, _ Position) { mu.Lock(); done = append(done, m.UUID); mu.Unlock() })
		defer d.Close()

		d.Add(msg("a1", "a"), Position{})
		d.Add(msg("a2", "a"), Position{})
		first := receive(t, mem)
		require.Equal(t, "a1", first.UUID)
		nothing(t, mem) // a2 waits for a1's ack

		other := "b"
		for d.Lane(other) == d.Lane("a") {
			other += "b"
		}
		d.Add(msg("b1", other), Position{})
		require.Equal(t, "b1", receive(t, mem).UUID, "another lane is not blocked")

		md.ack(first)
		require.Equal(t, "a2", receive(t, mem).UUID)
		require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(done) == 1 && done[0] == "a1" }, time.Second, time.Millisecond)
	})
}

func TestNackRedeliversBeforeLaterMessages(t *testing.T) {
	eachMode(t, func(t *testing.T, md mode) {
		defer goleak.VerifyNone(t)
		d, mem := joined(md, 4, nil)
		defer d.Close()
		d.Add(msg("1", "k"), Position{})
		d.Add(msg("2", "k"), Position{})
		m := receive(t, mem)
		ctx := m.Context()
		md.nack(m)
		<-ctx.Done() // the hand-over's context ends with the nack
		again := receive(t, mem)
		require.Equal(t, "1", again.UUID)
		require.NotSame(t, m, again, "a fresh copy, since a message is acked once")
		md.ack(again)
		require.Equal(t, "2", receive(t, mem).UUID)
	})
}

func TestMessagesWithoutKeyShareOneOrder(t *testing.T) {
	eachMode(t, func(t *testing.T, md mode) {
		defer goleak.VerifyNone(t)
		d, mem := joined(md, 16, nil)
		defer d.Close()
		for i := range 20 {
			d.Add(msg(fmt.Sprint(i), ""), Position{})
		}
		for i := range 20 {
			m := receive(t, mem)
			require.Equal(t, fmt.Sprint(i), m.UUID)
			md.ack(m)
		}
	})
}

func TestCloseGivesUpUnackedMessages(t *testing.T) {
	eachMode(t, func(t *testing.T, md mode) {
		defer goleak.VerifyNone(t)
		acked := make(chan string, 2)
		d, mem := joined(md, 2, func(m *message.Message, _ Position) { acked <- m.UUID })
		d.Add(msg("held", "k"), Position{})
		d.Add(msg("queued", "k"), Position{})
		m := receive(t, mem)
		d.Close()
		<-m.Context().Done()
		_, open := <-mem.Output()
		require.False(t, open, "output closed")
		md.ack(m)
		select {
		case id := <-acked:
			t.Fatalf("ack of %s reported after Close", id)
		case <-time.After(50 * time.Millisecond):
		}
		d.Close() // idempotent
	})
}

func TestMembersShareLanesWithoutSplittingAKey(t *testing.T) {
	eachMode(t, func(t *testing.T, md mode) {
		defer goleak.VerifyNone(t)
		d := New(8, keyMeta, nil)
		defer d.Close()
		a, b := d.Join(md.settles), d.Join(md.settles)
		for i := range 40 {
			d.Add(msg(fmt.Sprint(i), fmt.Sprint("key-", i%8)), Position{})
		}
		got := map[*Member]int{}
		keyOwner := map[string]*Member{}
		for range 40 {
			var m *message.Message
			var who *Member
			select {
			case m = <-a.Output():
				who = a
			case m = <-b.Output():
				who = b
			case <-time.After(5 * time.Second):
				t.Fatal("stalled")
			}
			key := m.Metadata.Get(keyMeta)
			if owner, ok := keyOwner[key]; ok {
				require.Same(t, owner, who, "a key stays with one member while members are stable")
			}
			keyOwner[key] = who
			got[who]++
			md.ack(m)
		}
		require.Positive(t, got[a])
		require.Positive(t, got[b])
	})
}

func TestLeaveHandsLanesToTheOthers(t *testing.T) {
	eachMode(t, func(t *testing.T, md mode) {
		defer goleak.VerifyNone(t)
		d := New(1, keyMeta, nil)
		defer d.Close()
		a := d.Join(md.settles)
		d.Add(msg("1", ""), Position{})
		first := receive(t, a)
		b := d.Join(md.settles)
		d.Add(msg("2", ""), Position{})
		nothing(t, b) // 2 waits for 1's ack, whoever holds it
		d.Leave(a)
		_, open := <-a.Output()
		require.False(t, open)
		md.ack(first)
		second := receive(t, b)
		require.Equal(t, "2", second.UUID)
		md.ack(second)
		d.Leave(b)
		d.Add(msg("3", ""), Position{})
		c := d.Join(md.settles)
		require.Equal(t, "3", receive(t, c).UUID, "a lane waits for a member when there is none")
	})
}

// returns reports whether f returns within wait.
func returns(f func(), wait time.Duration) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

func TestDrain(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	tests := []struct {
		name  string
		nack  bool // the consumer nacks the first message of key a
		stop  chan struct{}
		acked []string // what done saw when Drain returned
		left  int      // messages still queued afterwards
	}{
		{name: "hands over everything queued", acked: []string{"a1", "b1", "a2", "a3"}},
		{name: "a nack gives up its lane", nack: true, acked: []string{"b1"}},
		{name: "stop ends it", stop: closed, left: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachMode(t, func(t *testing.T, md mode) {
				defer goleak.VerifyNone(t)
				var mu sync.Mutex
				var acked []string
				d, mem := joined(md, 4, func(m *message.Message, _ Position) {
					mu.Lock()
					defer mu.Unlock()
					acked = append(acked, m.UUID)
				})
				defer d.Close()
				d.Add(msg("a1", "a"), Position{})
				d.Add(msg("b1", "b"), Position{})
				d.Add(msg("a2", "a"), Position{})
				d.Add(msg("a3", "a"), Position{})
				drained := make(chan struct{})
				go func() { d.Drain(tt.stop); close(drained) }()
				require.Eventually(t, func() bool { // a nack before the drain began is handed over again
					d.mu.Lock()
					defer d.mu.Unlock()
					return d.draining
				}, 5*time.Second, time.Millisecond)
				if tt.stop == nil {
					for range 2 {
						m := receive(t, mem)
						select {
						case <-drained:
							t.Fatal("Drain returned while messages were queued")
						default:
						}
						if tt.nack && m.UUID == "a1" {
							md.nack(m)
						} else {
							md.ack(m)
						}
					}
					if !tt.nack {
						md.ack(receive(t, mem)) // a2
						md.ack(receive(t, mem)) // a3
					}
				}
				select {
				case <-drained:
				case <-time.After(5 * time.Second):
					t.Fatal("Drain did not return")
				}
				mu.Lock()
				require.ElementsMatch(t, tt.acked, acked, "done saw every ack before Drain returned")
				mu.Unlock()
				require.Equal(t, tt.left, d.Pending())
			})
		})
	}
	t.Run("no member", func(t *testing.T) {
		d := New(1, keyMeta, nil)
		defer d.Close()
		d.Add(msg("1", ""), Position{})
		require.True(t, returns(func() { d.Drain(nil) }, 5*time.Second), "nobody to hand it to")
	})
}

func TestLeaveTakesBackWhatItsConsumerDidNotReceive(t *testing.T) {
	eachMode(t, func(t *testing.T, md mode) {
		defer goleak.VerifyNone(t)
		d := New(2, keyMeta, nil)
		defer d.Close()
		a := d.Join(md.settles)
		d.Add(msg("1", "k"), Position{})
		d.Add(msg("2", "k"), Position{})
		d.Leave(a) // 1 sat in a's channel, never received
		_, open := <-a.Output()
		require.False(t, open)
		require.Equal(t, 2, d.Pending(), "both wait for the next member")
		b := d.Join(md.settles)
		first := receive(t, b)
		require.Equal(t, "1", first.UUID, "the key's order holds across the hand-back")
		md.ack(first)
		require.Equal(t, "2", receive(t, b).UUID)
	})
}

func TestSettle(t *testing.T) {
	tests := []struct {
		name   string
		settle func(m *message.Message) // what the consumer does with the message it holds
		done   []string                 // what done has seen afterwards
	}{
		{name: "acked", settle: func(m *message.Message) { m.Ack(); Settle(m) }, done: []string{"1"}},
		{name: "acked, settled twice", settle: func(m *message.Message) { m.Ack(); Settle(m); Settle(m) }, done: []string{"1"}},
		{name: "neither acked nor nacked", settle: Settle},
		{name: "nacked", settle: func(m *message.Message) { m.Nack(); Settle(m) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			var done []string
			d := New(1, keyMeta, func(m *message.Message, pos Position) {
				done = append(done, m.UUID)
				require.Equal(t, Position{Partition: 2, Offset: 7}, pos, "done gets the position Add was given")
			})
			defer d.Close()
			m := d.Join(true)
			d.Add(msg("1", ""), Position{Partition: 2, Offset: 7})
			tt.settle(receive(t, m))
			require.Equal(t, tt.done, done, "done is called within Settle")
		})
	}
	t.Run("a message that no lane handed over", func(t *testing.T) {
		m := msg("x", "")
		m.Ack()
		Settle(m) // does nothing
	})
}
