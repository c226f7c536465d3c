package sqlbus_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// quietConfig makes the reader's own timers rare — polling and lease renewal a minute apart —
// so that a test sees what acknowledgements and publishes alone make it do.
func quietConfig() sqlbus.Config {
	cfg := testConfig()
	cfg.PollInterval = time.Minute
	cfg.LeaseTimeout = 3 * time.Minute
	return cfg
}

// unrecorded counts topic's messages after group's recorded offsets.
func unrecorded(t *testing.T, db *database.DB, group, topic string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM bus_messages m
		JOIN bus_offsets o ON o.grp = $1 AND o.topic = m.topic AND o.part = m.part
		WHERE m.topic = $2 AND m.seq > o.acked`, group, topic).Scan(&n))
	return n
}

// TestReaderAfterAcknowledgements: a reader records the offsets of what was acknowledged soon
// after the acknowledgements stop, not at the next poll or shutdown; and a reader whose
// in-flight window is full reads on as acknowledgements make room, without waiting for a
// publish or the poll.
func TestReaderAfterAcknowledgements(t *testing.T) {
	tests := []struct {
		name string
		n    int           // messages published before subscribing
		hold time.Duration // how long the handler holds the first message: the window fills meanwhile
	}{
		{"offsets recorded", 50, 0},
		{"window refilled", 2500, 500 * time.Millisecond},
	}
	dialects(t, func(t *testing.T, db *database.DB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b := startBus(t, db, quietConfig())
				topic := "acks-" + watermill.NewShortUUID()
				batch := make([]eventsvc.Outgoing, tt.n)
				for i := range batch {
					m := message.NewMessage(fmt.Sprintf("m-%d", i), []byte("x"))
					m.Metadata.Set(eventsvc.MetaKeyHeader, fmt.Sprintf("key-%d", i%32))
					batch[i] = eventsvc.Outgoing{Topic: topic, Message: m}
				}
				require.NoError(t, b.PublishBatch(t.Context(), batch))
				sub, err := b.Subscriber("group")
				require.NoError(t, err)
				ch, err := sub.Subscribe(t.Context(), topic)
				require.NoError(t, err)
				held := make(chan *message.Message)
				go func() {
					defer close(held)
					first := true
					for m := range ch {
						if first {
							time.Sleep(tt.hold)
							first = false
						}
						held <- m
					}
				}()
				c := newCounter()
				go c.consume("r", held)
				require.Eventually(t, func() bool { return c.distinct() == tt.n }, wait, 10*time.Millisecond,
					"every message delivered without a publish or a poll")
				require.Eventually(t, func() bool { return unrecorded(t, db, "group", topic) == 0 }, 5*time.Second, 10*time.Millisecond,
					"the offsets of what was acknowledged are recorded while the reader runs")
				require.NoError(t, sub.Close())
			})
		}
	})
}
