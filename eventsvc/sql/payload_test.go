package sqlbus_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

// TestPayloadsRoundTrip: whatever way a payload is stored — compressed (a large compressible
// one), as it is (small, incompressible), by reference to the previous message of its batch
// (an event and its sub-topic event, SQLite) or as a copy of its compressed form (the same,
// PostgreSQL) — subscribers get it byte for byte.
func TestPayloadsRoundTrip(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		t1, t2 := "payload-"+watermill.NewShortUUID(), "payload-"+watermill.NewShortUUID()
		random := make([]byte, 4096)
		_, _ = rand.Read(random)
		tests := []struct {
			name      string
			payload   []byte
			wantCodec int
		}{
			{"compressible", []byte(`{"commits":[` + strings.Repeat(`{"message":"fix the build","added":["a.go"]},`, 80) + `{}]}`), 1},
			{"incompressible", random, 0},
			{"small", []byte(`{"zen":"Keep it logically awesome."}`), 0},
			{"empty", []byte{}, 0},
		}
		var batch []eventsvc.Outgoing
		for _, tt := range tests {
			batch = append(batch,
				eventsvc.Outgoing{Topic: t1, Message: message.NewMessage(tt.name, tt.payload)},
				eventsvc.Outgoing{Topic: t2, Message: message.NewMessage(tt.name, tt.payload)})
		}
		require.NoError(t, b.PublishBatch(t.Context(), batch))

		for _, topic := range []string{t1, t2} {
			sub, err := b.Subscriber("reader")
			require.NoError(t, err)
			ch, err := sub.Subscribe(t.Context(), topic)
			require.NoError(t, err)
			got := map[string][]byte{} // messages without a key come in any order
			for len(got) < len(tests) {
				select {
				case m := <-ch:
					got[m.UUID] = m.Payload
					m.Ack()
				case <-time.After(wait):
					t.Fatalf("%d of %d delivered on %s", len(got), len(tests), topic)
				}
			}
			for _, tt := range tests {
				require.True(t, bytes.Equal(tt.payload, got[tt.name]), "%s on %s: payload changed", tt.name, topic)
			}
			require.NoError(t, sub.Close())
		}

		sqlite := db.Dialect() == database.SQLite
		for _, tt := range tests {
			var codec int
			var ref bool
			require.NoError(t, db.QueryRowContext(t.Context(), `SELECT codec, payload_of IS NOT NULL FROM bus_messages WHERE topic = $1 AND uuid = $2`, t1, tt.name).Scan(&codec, &ref))
			require.Equal(t, tt.wantCodec, codec, tt.name)
			require.False(t, ref, tt.name)
			require.NoError(t, db.QueryRowContext(t.Context(), `SELECT codec, payload_of IS NOT NULL FROM bus_messages WHERE topic = $1 AND uuid = $2`, t2, tt.name).Scan(&codec, &ref))
			require.Equal(t, sqlite && len(tt.payload) > 0, ref, "%s: on SQLite the sub-topic copy refers to the event's payload", tt.name)
			if !sqlite {
				require.Equal(t, tt.wantCodec, codec, "%s: on PostgreSQL the sub-topic copy is stored the same way", tt.name)
			}
		}
	})
}

// TestEqualPayloadsInARow: a batch of several messages with one payload — which SQLite
// stores once and refers to from the next message, a reference that readers follow only once
// — delivers every payload whole, compressed or not.
func TestEqualPayloadsInARow(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		topic := "same-" + watermill.NewShortUUID()
		payloads := map[string][]byte{
			"small":        []byte(`{}`),
			"compressible": []byte(`{"commits":[` + strings.Repeat(`{"message":"fix the build"},`, 40) + `{}]}`),
		}
		var batch []eventsvc.Outgoing
		for name, p := range payloads {
			for i := range 5 {
				batch = append(batch, eventsvc.Outgoing{Topic: topic, Message: message.NewMessage(fmt.Sprintf("%s-%d", name, i), p)})
			}
		}
		require.NoError(t, b.PublishBatch(t.Context(), batch))
		sub, err := b.Subscriber("reader")
		require.NoError(t, err)
		defer sub.Close()
		ch, err := sub.Subscribe(t.Context(), topic)
		require.NoError(t, err)
		for range batch {
			select {
			case m := <-ch:
				name, _, _ := strings.Cut(m.UUID, "-")
				require.Equal(t, string(payloads[name]), string(m.Payload), m.UUID)
				m.Ack()
			case <-time.After(wait):
				t.Fatal("not every message was delivered")
			}
		}
	})
}
