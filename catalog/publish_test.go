package catalog_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
)

// failingPublisher refuses every event, and calls onPublish after each attempt.
type failingPublisher struct {
	attempts  atomic.Int32
	onPublish func()
}

func (p *failingPublisher) Publish(context.Context, eventsvc.Event) error {
	p.attempts.Add(1)
	p.onPublish()
	return errors.New("bus unavailable")
}

// TestPublishRetriesEndWithTheContext: the retries of a change that cannot be published wait
// between tries, and those waits end with the caller's context (a handler or loop being
// stopped), instead of sleeping regardless; the change stays committed.
func TestPublishRetriesEndWithTheContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cancelFirst  bool
		wantAttempts int32
	}{
		{name: "context ends during the first try: no more tries", cancelFirst: true, wantAttempts: 1},
		{name: "context alive: three tries", cancelFirst: false, wantAttempts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pub := &failingPublisher{onPublish: func() {
				if tt.cancelFirst {
					cancel()
				}
			}}
			model, err := catalog.NewModel(nil)
			require.NoError(t, err)
			store := catalog.NewStore(databasetest.SQLite(t, catalog.Migrations), pub, model, zerolog.Nop())
			res, err := store.ApplyMutation(ctx, "test", catalog.Mutation{Type: catalog.Full,
				Entities: deferred(entity("Component", "a", map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"}))})
			require.NoError(t, err, "the mutation is committed whatever the bus does")
			require.Equal(t, []string{"component:default/a"}, res.Upserted)
			require.Equal(t, tt.wantAttempts, pub.attempts.Load())
		})
	}
}
