package sqlbus

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
)

// TestOnceIndexOnSQLite: a hash collision never makes a new key a duplicate (a hit is checked
// against its row), and a key recorded by another process (another bus with its own index on
// the same file) is found before any key is decided.
func TestOnceIndexOnSQLite(t *testing.T) {
	db := databasetest.SQLite(t, Migrations)
	var cfg Config
	cfg.SetDefaults()
	newStarted := func() *Bus {
		b, err := New(db, cfg, zerolog.Nop(), nil)
		require.NoError(t, err)
		require.NoError(t, b.Start(t.Context()))
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	one, other := newStarted(), newStarted()
	batch := func(id string) []eventsvc.Outgoing {
		return []eventsvc.Outgoing{{Topic: "t", Message: message.NewMessage(id, []byte(`{}`))}}
	}
	a := eventsvc.Once{Scope: "github", ID: "a", Keep: time.Hour}
	b := eventsvc.Once{Scope: "github", ID: "b", Keep: time.Hour}

	require.NoError(t, one.PublishOnce(t.Context(), a, batch("1")))
	// b's hash now points at a's row, as a collision would.
	one.once.mu.Lock()
	one.once.seqs[one.once.hash(b)] = one.once.seqs[one.once.hash(a)]
	one.once.mu.Unlock()
	require.NoError(t, one.PublishOnce(t.Context(), b, batch("2")), "a colliding key is checked against its row")
	require.ErrorIs(t, one.PublishOnce(t.Context(), b, batch("3")), eventsvc.ErrDuplicate)
	require.Equal(t, 2.0, testutil.ToFloat64(one.metrics.onceKeys), MetricOnceKeys)

	require.ErrorIs(t, other.PublishOnce(t.Context(), a, batch("4")), eventsvc.ErrDuplicate, "another process's key is read first")
	require.ErrorIs(t, other.PublishOnce(t.Context(), b, batch("5")), eventsvc.ErrDuplicate)

	// The purge drops expired rows and the index entries that point at them.
	one.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	require.NoError(t, one.Purge(t.Context()))
	one.once.mu.Lock()
	left := len(one.once.seqs)
	one.once.mu.Unlock()
	require.Zero(t, left)
	require.Zero(t, testutil.ToFloat64(one.metrics.onceKeys), MetricOnceKeys)
}
