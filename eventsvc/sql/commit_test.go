package sqlbus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// TestGroupCommitIsolatesABadMessage: publishes that share a group commit do not share a
// failure. A message the database refuses fails its own publish only; the others of its
// group are written.
func TestGroupCommitIsolatesABadMessage(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		refuseMessage(t, db, "poison")
		topic := "group-" + watermill.NewShortUUID()
		one := func(id string) sqlbus.GroupPublish {
			return sqlbus.GroupPublish{Batch: []eventsvc.Outgoing{{Topic: topic, Message: message.NewMessage(id, []byte("{}"))}}}
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

// TestGroupCommitOnceKeys: once keys decided in one group commit as if the publishes came one
// after the other. A key an earlier publish of the group has is a duplicate (the first wins),
// whether or not the earlier one's key was fresh; a recorded key is a duplicate, an expired
// one is renewed; the messages stored follow the order of the group, written by one
// transaction (they share its time); when the group fails, each publish is retried alone with
// the same outcome, and a refused publish records no key.
func TestGroupCommitOnceKeys(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		b := startBus(t, db, testConfig())
		refuseMessage(t, db, "poison")
		key := func(scope, id string, keep time.Duration) *eventsvc.Once {
			return &eventsvc.Once{Scope: scope, ID: id, Keep: keep}
		}
		type publish struct {
			once    *eventsvc.Once
			ids     []string
			wantErr error // ErrDuplicate, errRefused, or nil
		}
		errRefused := errors.New("refused message")
		tests := []struct {
			name       string
			group      []publish
			wantStored []string
			oneWrite   bool      // the group's messages are stored by one transaction
			after      []publish // published alone after the group
		}{{
			name: "one transaction",
			group: []publish{
				{key("s", "a", time.Hour), []string{"a1", "a2"}, nil},
				{key("s", "a", time.Hour), []string{"a-again"}, eventsvc.ErrDuplicate},
				{nil, []string{"plain"}, nil},
				{key("s", "recorded", time.Hour), []string{"recorded-again"}, eventsvc.ErrDuplicate},
				{key("s", "expired", time.Hour), []string{"renewed"}, nil},
				{key("other", "a", time.Hour), []string{"other-a"}, nil},
				{key("s", "empty", time.Hour), nil, nil},
				{key("s", "empty", time.Hour), []string{"empty-again"}, eventsvc.ErrDuplicate},
				{key("s", "recorded", time.Hour), []string{"recorded-twice"}, eventsvc.ErrDuplicate},
			},
			wantStored: []string{"a1", "a2", "plain", "renewed", "other-a"},
			oneWrite:   true,
			after: []publish{
				{key("s", "expired", time.Hour), []string{"expired-after"}, eventsvc.ErrDuplicate},
				{key("s", "empty", time.Hour), []string{"empty-after"}, eventsvc.ErrDuplicate},
				{key("s", "a", time.Hour), []string{"a-after"}, eventsvc.ErrDuplicate},
			},
		}, {
			name: "one transaction each after a refused message",
			group: []publish{
				{key("s", "a", time.Hour), []string{"a1"}, nil},
				{key("s", "p", time.Hour), []string{"p1", "poison"}, errRefused},
				{key("s", "a", time.Hour), []string{"a-again"}, eventsvc.ErrDuplicate},
				{key("s", "recorded", time.Hour), []string{"recorded-again"}, eventsvc.ErrDuplicate},
				{nil, []string{"plain"}, nil},
			},
			wantStored: []string{"a1", "plain"},
			after: []publish{
				{key("s", "p", time.Hour), []string{"p-retry"}, nil},
			},
		}}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				topic := "once-group-" + watermill.NewShortUUID()
				scoped := func(o *eventsvc.Once) *eventsvc.Once {
					if o == nil {
						return nil
					}
					s := *o
					s.Scope = topic + "/" + s.Scope
					return &s
				}
				require.NoError(t, b.PublishOnce(t.Context(), *scoped(key("s", "recorded", time.Hour)), nil))
				require.NoError(t, b.PublishOnce(t.Context(), *scoped(key("s", "expired", time.Millisecond)), nil))
				time.Sleep(5 * time.Millisecond)

				group := make([]sqlbus.GroupPublish, len(tt.group))
				for i, p := range tt.group {
					group[i] = sqlbus.GroupPublish{Once: scoped(p.once), Batch: batchOf(topic, p.ids...)}
				}
				errs := b.CommitGroup(t.Context(), group...)
				for i, p := range tt.group {
					switch {
					case p.wantErr == errRefused:
						require.ErrorContains(t, errs[i], "refused message", "publish %d", i)
					case p.wantErr != nil:
						require.ErrorIs(t, errs[i], p.wantErr, "publish %d", i)
					default:
						require.NoError(t, errs[i], "publish %d", i)
					}
				}
				require.Equal(t, tt.wantStored, stored(t, db, topic))
				if tt.oneWrite {
					var times int
					require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(DISTINCT created_at) FROM bus_messages WHERE topic = $1`, topic).Scan(&times))
					require.Equal(t, 1, times, "the group was not written by one transaction")
				}
				for i, p := range tt.after {
					err := b.PublishOnce(t.Context(), *scoped(p.once), batchOf(topic, p.ids...))
					if p.wantErr != nil {
						require.ErrorIs(t, err, p.wantErr, "publish %d after", i)
					} else {
						require.NoError(t, err, "publish %d after", i)
					}
				}
			})
		}
	})
}
