package sqlbus_test

import (
	"context"
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
		stmts := map[database.Dialect][]string{
			database.SQLite: {`CREATE TRIGGER poison_message BEFORE INSERT ON bus_messages WHEN NEW.uuid = 'poison'
				BEGIN SELECT RAISE(ABORT, 'poisoned message'); END`},
			database.Postgres: {
				`CREATE FUNCTION poison_message() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
				   IF NEW.uuid = 'poison' THEN RAISE EXCEPTION 'poisoned message'; END IF;
				   RETURN NEW;
				 END $$`,
				`CREATE TRIGGER poison_message BEFORE INSERT ON bus_messages FOR EACH ROW EXECUTE FUNCTION poison_message()`,
			},
		}[db.Dialect()]
		b := startBus(t, db, testConfig())
		for _, s := range stmts {
			_, err := db.ExecContext(context.Background(), s)
			require.NoError(t, err)
		}
		topic := "group-" + watermill.NewShortUUID()
		one := func(id string) []eventsvc.Outgoing {
			return []eventsvc.Outgoing{{Topic: topic, Message: message.NewMessage(id, []byte("{}"))}}
		}
		errs := b.CommitGroup(t.Context(), one("good-1"), one("poison"), one("good-2"))
		require.NoError(t, errs[0])
		require.ErrorContains(t, errs[1], "poisoned message")
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
