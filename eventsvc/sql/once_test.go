package sqlbus_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// stored returns the ids of topic's messages, in order.
func stored(t *testing.T, db *database.DB, topic string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT uuid FROM bus_messages WHERE topic = $1 ORDER BY seq`, topic)
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func batchOf(topic string, ids ...string) []eventsvc.Outgoing {
	out := make([]eventsvc.Outgoing, len(ids))
	for i, id := range ids {
		out[i] = eventsvc.Outgoing{Topic: topic, Message: message.NewMessage(id, []byte(`{}`))}
	}
	return out
}

// TestPublishOnce: a key publishes its batch once; a second publish with the key stores nothing
// and answers ErrDuplicate; the same id in another scope is another key; an expired key may
// publish again; the purge removes expired keys.
func TestPublishOnce(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		topic := "once-" + watermill.NewShortUUID()
		keep := time.Hour
		tests := []struct {
			name    string
			once    eventsvc.Once
			ids     []string
			wantErr error
		}{
			{"first", eventsvc.Once{Scope: "github", ID: "d-1", Keep: keep}, []string{"a", "a-sub"}, nil},
			{"again", eventsvc.Once{Scope: "github", ID: "d-1", Keep: keep}, []string{"a2"}, eventsvc.ErrDuplicate},
			{"other scope", eventsvc.Once{Scope: "gitlab", ID: "d-1", Keep: keep}, []string{"b"}, nil},
			{"short-lived", eventsvc.Once{Scope: "github", ID: "d-2", Keep: time.Millisecond}, []string{"c"}, nil},
		}
		for _, tt := range tests {
			err := b.PublishOnce(t.Context(), tt.once, batchOf(topic, tt.ids...))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr, tt.name)
			} else {
				require.NoError(t, err, tt.name)
			}
		}
		time.Sleep(5 * time.Millisecond)
		require.NoError(t, b.PublishOnce(t.Context(), eventsvc.Once{Scope: "github", ID: "d-2", Keep: keep}, batchOf(topic, "c-again")),
			"an expired key publishes again")
		require.Equal(t, []string{"a", "a-sub", "b", "c", "c-again"}, stored(t, db, topic))

		b.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
		require.NoError(t, b.Purge(t.Context()))
		var keys int
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM bus_once`).Scan(&keys))
		require.Zero(t, keys, "expired keys are purged")
	})
}

// TestPublishOnceRace: many publishes of one key at once, from two instances, and sharing group
// commits: exactly one stores its batch, every other answers ErrDuplicate.
func TestPublishOnceRace(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		buses := []*sqlbus.Bus{startBus(t, db, testConfig()), startBus(t, db, testConfig())}
		topic := "race-" + watermill.NewShortUUID()
		const n = 40
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				once := eventsvc.Once{Scope: topic, ID: "same", Keep: time.Hour}
				errs[i] = buses[i%2].PublishOnce(t.Context(), once, batchOf(topic, fmt.Sprint(i), fmt.Sprint(i)+"-sub"))
			})
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, won, "publishes %d and %d both stored", won, i)
				won = i
				continue
			}
			require.True(t, errors.Is(err, eventsvc.ErrDuplicate), "publish %d: %v", i, err)
		}
		require.NotEqual(t, -1, won, "one publish stores the batch")
		require.Equal(t, []string{fmt.Sprint(won), fmt.Sprint(won) + "-sub"}, stored(t, db, topic))
	})
}

// TestPublishOnceRefusedBatchKeepsNoKey: when the batch cannot be stored, the key is not
// recorded either, so that the sender's retry publishes.
func TestPublishOnceRefusedBatchKeepsNoKey(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		topic := "refused-" + watermill.NewShortUUID()
		refuseMessage(t, db, "bad-"+topic)
		once := eventsvc.Once{Scope: topic, ID: "d-1", Keep: time.Hour}
		require.Error(t, b.PublishOnce(t.Context(), once, batchOf(topic, "ok", "bad-"+topic)))
		require.NoError(t, b.PublishOnce(t.Context(), once, batchOf(topic, "retry")))
		require.Equal(t, []string{"retry"}, stored(t, db, topic))
	})
}
