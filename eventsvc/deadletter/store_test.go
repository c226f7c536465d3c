package deadletter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
)

func letter(sub, topic string, i int, failedAt time.Time) eventsvc.DeadLetter {
	return eventsvc.DeadLetter{
		Subscription: sub, Topic: topic, Error: fmt.Sprintf("boom %d", i), Attempts: 5, FailedAt: failedAt,
		Event: eventsvc.Event{ID: fmt.Sprintf("ev-%d", i), Topic: topic, Key: "k", Payload: []byte{0, 1, byte(i)},
			Metadata: map[string]string{"x-github-event": "push"}, Time: time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)},
	}
}

// TestStoreContract runs the same checks on SQLite and PostgreSQL.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, deadletter.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := deadletter.NewStore(db, deadletter.Config{Retention: 24 * time.Hour}, zerolog.Nop(), nil)
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		for i := range 7 {
			sub, topic := "sub-a", "github"
			if i%2 == 1 {
				sub, topic = "sub-b", "gitlab"
			}
			require.NoError(t, s.Add(ctx, letter(sub, topic, i, base.Add(time.Duration(i)*time.Minute))))
		}

		t.Run("round trip", func(t *testing.T) {
			page, err := s.List(ctx, deadletter.Filter{Limit: 1})
			require.NoError(t, err)
			got, err := s.Get(ctx, page.Items[0].ID)
			require.NoError(t, err)
			want := letter("sub-a", "github", 6, base.Add(6*time.Minute))
			require.Equal(t, want.Event.ID, got.Event.ID)
			require.Equal(t, want.Event.Payload, got.Event.Payload)
			require.Equal(t, want.Event.Metadata, got.Event.Metadata)
			require.Equal(t, "k", got.Event.Key)
			require.Equal(t, "github", got.Event.Topic)
			require.True(t, want.Event.Time.Equal(got.Event.Time))
			require.True(t, want.FailedAt.Equal(got.FailedAt))
			require.Equal(t, "boom 6", got.Error)
			require.Equal(t, 5, got.Attempts)
		})

		t.Run("pages newest first, filtered", func(t *testing.T) {
			var ids []string
			cursor := ""
			for {
				page, err := s.List(ctx, deadletter.Filter{Subscription: "sub-a", Limit: 2, Cursor: cursor})
				require.NoError(t, err)
				require.Equal(t, 4, page.TotalItems)
				for _, r := range page.Items {
					ids = append(ids, r.Event.ID)
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			require.Equal(t, []string{"ev-6", "ev-4", "ev-2", "ev-0"}, ids)
			page, err := s.List(ctx, deadletter.Filter{Topic: "gitlab"})
			require.NoError(t, err)
			require.Equal(t, 3, page.TotalItems)
			_, err = s.List(ctx, deadletter.Filter{Cursor: "not-a-cursor"})
			require.ErrorIs(t, err, deadletter.ErrBadCursor)
		})

		t.Run("delete and purge", func(t *testing.T) {
			page, err := s.List(ctx, deadletter.Filter{Topic: "gitlab"})
			require.NoError(t, err)
			require.NoError(t, s.Delete(ctx, page.Items[0].ID))
			require.ErrorIs(t, s.Delete(ctx, page.Items[0].ID), deadletter.ErrNotFound)
			_, err = s.Get(ctx, page.Items[0].ID)
			require.ErrorIs(t, err, deadletter.ErrNotFound)
			n, err := s.Purge(ctx, base.Add(2*time.Minute+time.Second))
			require.NoError(t, err)
			require.EqualValues(t, 3, n, "ev-0, ev-1, ev-2 failed before the cut")
			page, err = s.List(ctx, deadletter.Filter{})
			require.NoError(t, err)
			require.Equal(t, 3, page.TotalItems)
		})
	})
}

// TestCountAndByEvent: Count counts every dead letter; ByEvent finds an event's dead letters,
// of every subscription and topic, newest first.
func TestCountAndByEvent(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, deadletter.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := deadletter.NewStore(db, deadletter.Config{Retention: 24 * time.Hour}, zerolog.Nop(), nil)
		n, err := s.Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n)

		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		for i, l := range []eventsvc.DeadLetter{
			letter("sub-a", "github", 1, base),
			letter("sub-b", "github", 2, base.Add(time.Minute)),
			letter("sub-b", "github.push", 2, base.Add(2*time.Minute)), // the sub-topic event: same id
			letter("sub-c", "github", 2, base.Add(3*time.Minute)),
		} {
			require.NoError(t, s.Add(ctx, l), i)
		}
		n, err = s.Count(ctx)
		require.NoError(t, err)
		require.Equal(t, 4, n)

		tests := []struct {
			name    string
			eventID string
			want    []string // subscription/topic, newest first
		}{
			{"one", "ev-1", []string{"sub-a/github"}},
			{"several subscriptions and topics", "ev-2", []string{"sub-c/github", "sub-b/github.push", "sub-b/github"}},
			{"none", "ev-9", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rs, err := s.ByEvent(ctx, tt.eventID)
				require.NoError(t, err)
				var got []string
				for _, r := range rs {
					require.Equal(t, tt.eventID, r.Event.ID)
					require.NotEmpty(t, r.ID)
					got = append(got, r.Subscription+"/"+r.Topic)
				}
				require.Equal(t, tt.want, got)
			})
		}
	})
}
