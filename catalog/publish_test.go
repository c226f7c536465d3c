package catalog_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/memory"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

var component = entity("Component", "a", map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"})

// TestChangesCommitWithTheirEvents: a mutation and its change events are stored in one
// transaction. When the events cannot be stored, the mutation is rolled back (and reported);
// the events of a committed mutation are published after its commit.
func TestChangesCommitWithTheirEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		refuse     error
		wantStored bool
	}{
		{name: "the events are stored: the change commits and is published", wantStored: true},
		{name: "the events cannot be stored: the change is rolled back", refuse: errors.New("outbox full")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := databasetest.SQLite(t, catalog.Migrations)
			model, err := catalog.NewModel(nil)
			require.NoError(t, err)
			rec := &eventsvctest.Recorder{Err: tt.refuse}
			store := catalog.NewStore(db, rec, model, zerolog.Nop())
			_, err = store.ApplyMutation(ctx, "test", catalog.Mutation{Type: catalog.Full, Entities: deferred(component)})
			_, getErr := store.GetByRef(ctx, component.Ref())
			if !tt.wantStored {
				require.ErrorIs(t, err, tt.refuse)
				require.ErrorIs(t, getErr, catalog.ErrNotFound)
				return
			}
			require.NoError(t, err)
			require.NoError(t, getErr)
			require.Len(t, rec.Published(catalog.TopicEntityUpserted), 1)
		})
	}
}

// switchable is a bus that can be taken down: while down, its publishes fail (a broker
// outage). Its subscribers are the memory bus's.
type switchable struct {
	*memory.Bus
	down atomic.Bool
}

var errDown = errors.New("bus down")

func (s *switchable) Publisher() message.Publisher { return s }

func (s *switchable) Publish(topic string, msgs ...*message.Message) error {
	if s.down.Load() {
		return errDown
	}
	return s.Bus.Publish(topic, msgs...)
}

func (s *switchable) PublishBatch(ctx context.Context, batch []eventsvc.Outgoing) error {
	if s.down.Load() {
		return errDown
	}
	return s.Bus.PublishBatch(ctx, batch)
}

// TestChangesMadeWhileTheBusIsDownArrive: a catalog change made while the bus refuses every
// publish is committed, and its events reach the catalog.entity.* subscribers once the bus
// is back — through the outbox in front of the bus (as on Kafka), and through the service's
// outbox on a bus that has none (memory, or Kafka without one).
func TestChangesMadeWhileTheBusIsDownArrive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// options returns the service's options around the bus and the outbox.
		options func(bus *switchable, outbox *sqlbus.Bus) eventsvc.Options
	}{
		{"outbox in front of the bus", func(bus *switchable, outbox *sqlbus.Bus) eventsvc.Options {
			return eventsvc.Options{Backend: eventsvc.Outboxed(outbox, bus)}
		}},
		{"the service's outbox beside the bus", func(bus *switchable, outbox *sqlbus.Bus) eventsvc.Options {
			return eventsvc.Options{Backend: bus, Outbox: outbox}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			databasetest.Each(t, slices.Concat(catalog.Migrations, sqlbus.Migrations), func(t *testing.T, db *database.DB) {
				ctx := t.Context()
				bus := &switchable{Bus: memory.New(memory.Config{}, zerolog.Nop())}
				var cfg sqlbus.Config
				cfg.SetDefaults()
				outbox, err := sqlbus.New(db, cfg, zerolog.Nop(), nil)
				require.NoError(t, err)
				opts := tt.options(bus, outbox)
				opts.DeadLetters, opts.Registerer = discardDeadLetters{}, prometheus.NewRegistry()
				opts.Retry.SetDefaults()
				var mu sync.Mutex
				var got []string
				opts.Subscriptions = []eventsvc.Subscription{{ID: "changes", Topics: []string{catalog.TopicEntityUpserted, catalog.TopicEntityDeleted},
					Handler: func(_ context.Context, e eventsvc.Event) error {
						mu.Lock()
						got = append(got, e.Topic+" "+e.Key)
						mu.Unlock()
						return nil
					}}}
				svc, err := eventsvc.New(opts)
				require.NoError(t, err)
				require.NoError(t, svc.Start(ctx))
				t.Cleanup(func() { require.NoError(t, svc.Stop(context.Background())) })
				model, err := catalog.NewModel(nil)
				require.NoError(t, err)
				store := catalog.NewStore(db, svc, model, zerolog.Nop())

				bus.down.Store(true)
				_, err = store.ApplyMutation(ctx, "test", catalog.Mutation{Type: catalog.Full, Entities: deferred(component)})
				require.NoError(t, err, "the change commits while the bus is down")
				stored, err := store.GetByRef(ctx, component.Ref())
				require.NoError(t, err)
				require.NoError(t, store.DeleteByUID(ctx, stored.Metadata.UID))
				require.Eventually(t, func() bool { return svc.Detail(ctx) != "" && !detailSays(ctx, svc, "0 messages waiting") }, 10*time.Second, 10*time.Millisecond)
				time.Sleep(200 * time.Millisecond)
				mu.Lock()
				require.Empty(t, got, "nothing is delivered while the bus is down")
				mu.Unlock()

				bus.down.Store(false)
				want := []string{catalog.TopicEntityUpserted + " component:default/a", catalog.TopicEntityDeleted + " component:default/a"}
				delivered := func() []string {
					mu.Lock()
					defer mu.Unlock()
					return slices.Clone(got)
				}
				require.Eventually(t, func() bool { return len(delivered()) >= len(want) }, 20*time.Second, 10*time.Millisecond,
					"outbox: %s", svc.Detail(ctx))
				require.ElementsMatch(t, want, delivered(), "each change once (the topics are not ordered with each other)")
				require.Eventually(t, func() bool { return detailSays(ctx, svc, "0 messages waiting") }, 10*time.Second, 10*time.Millisecond)
			})
		})
	}
}

// detailSays reports whether the service's readiness detail contains s.
func detailSays(ctx context.Context, svc *eventsvc.Service, s string) bool {
	return strings.Contains(svc.Detail(ctx), s)
}

// discardDeadLetters is a dead-letter store that keeps nothing (no handler fails here).
type discardDeadLetters struct{}

func (discardDeadLetters) Add(context.Context, eventsvc.DeadLetter) error { return nil }
