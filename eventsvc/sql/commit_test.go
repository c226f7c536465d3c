package sqlbus_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

// TestGroupCommitIsolatesABadMessage: publishes that share a group commit do not share a
// failure. A message the database refuses fails its own publish only; the others of its
// group are written.
func TestGroupCommitIsolatesABadMessage(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		refuseMessage(t, db, "poison")
		topic := "group-" + watermill.NewShortUUID()
		one := func(id string) []eventsvc.Outgoing {
			return []eventsvc.Outgoing{{Topic: topic, Message: message.NewMessage(id, []byte("{}"))}}
		}
		errs := b.CommitGroup(t.Context(), one("good-1"), one("poison"), one("good-2"))
		require.NoError(t, errs[0])
		require.ErrorContains(t, errs[1], "refused message")
		require.NoError(t, errs[2])

		var ids []string
		rows, err := db.QueryContext(t.Context(), `SELECT uuid FROM bus_messages WHERE topic = $1 ORDER BY seq`, topic)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{"good-1", "good-2"}, ids)
	})
}
