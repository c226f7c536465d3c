package recorder_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/subscribers/recorder"
)

func TestRecorder(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, recorder.Migrations, func(t *testing.T, db *database.DB) {
		r := recorder.New(db, 0)
		ctx := context.Background()
		for _, e := range []eventsvc.Event{
			{ID: "d-1", Topic: "github"}, {ID: "d-2", Topic: "github"}, {ID: "d-1", Topic: "github"}, {ID: "d-1", Topic: "gitlab"},
		} {
			require.NoError(t, r.Handle(ctx, e))
		}
		got, err := r.List(ctx, "github")
		require.NoError(t, err)
		deliveries := map[string]int{}
		for _, rec := range got {
			deliveries[rec.EventID] = rec.Deliveries
			require.Equal(t, "github", rec.Topic)
		}
		require.Equal(t, map[string]int{"d-1": 2, "d-2": 1}, deliveries, "a redelivery counts, it does not add a row")
	})
}

// TestHandlerDelayEndsWithTheContext: a slow recorder stops waiting when its subscription
// stops, and records nothing for the event, which the bus then delivers again.
func TestHandlerDelayEndsWithTheContext(t *testing.T) {
	t.Parallel()
	db := databasetest.SQLite(t, recorder.Migrations)
	r := recorder.New(db, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, r.Handle(ctx, eventsvc.Event{ID: "d-1", Topic: "github"}), context.Canceled)
	got, err := r.List(context.Background(), "github")
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     recorder.Config
		wantErr string
	}{
		{"off", recorder.Config{}, ""},
		{"topics and a delay", recorder.Config{Topics: []string{"github", "github.push"}, HandlerDelay: 20 * time.Millisecond}, ""},
		{"bad topic", recorder.Config{Topics: []string{"has space"}}, "topics[0]"},
		{"negative delay", recorder.Config{HandlerDelay: -time.Second}, "handlerDelay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
