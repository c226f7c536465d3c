package audit

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// WriterName is the fx name under which the module provides its [Writer] as an
// eventsvc.Publisher: `name:"auditLog"`. The auth module takes it, when present, to write
// its audit records durably before they are published.
const WriterName = "auditLog"

// writerIn are the writer's inputs.
type writerIn struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Store      *Store
	Config     Config
	Bus        eventsvc.TxPublisher
	Logger     zerolog.Logger
	Registerer prometheus.Registerer `optional:"true"`
}

// checkpointerIn are the checkpointer's inputs.
type checkpointerIn struct {
	fx.In
	Lifecycle  fx.Lifecycle
	DB         *database.DB
	Config     Config
	Bus        eventsvc.Publisher
	Logger     zerolog.Logger
	Registerer prometheus.Registerer `optional:"true"`
}

// Module provides the configuration section auth.audit, the *Store, its migrations, its
// subscription (id audit-log, topic auth.audit), the [Writer] (named [WriterName], started
// and stopped with the application), the [Checkpointer] (started with the application;
// built with the routes) and the admin routes. It needs the database, eventsvc and
// httpserver modules.
var Module = fx.Module("subscribers/audit",
	config.Provide[Config](ConfigPath),
	database.AsMigrations(Migrations...),
	fx.Provide(
		func(db *database.DB, log zerolog.Logger) *Store {
			return NewStore(db, log.With().Str("module", "audit").Logger())
		},
		fx.Annotate(func(in writerIn) (eventsvc.Publisher, error) {
			w, err := NewWriter(in.Store, in.Logger.With().Str("module", "audit").Logger(), WriterOptions{
				MaxBatch: in.Config.MaxBatch, MaxAggregates: in.Config.MaxAggregates, CommitTimeout: in.Config.CommitTimeout,
				Bus: in.Bus, Registerer: in.Registerer,
			})
			if err != nil {
				return nil, err
			}
			in.Lifecycle.Append(fx.StartStopHook(w.Start, w.Stop))
			return w, nil
		}, fx.ResultTags(`name:"auditLog"`)),
		func(in checkpointerIn) (*Checkpointer, error) {
			c, err := NewCheckpointer(in.DB, in.Bus, in.Logger.With().Str("module", "audit").Logger(), in.Config.CheckpointInterval, in.Registerer)
			if err != nil {
				return nil, err
			}
			in.Lifecycle.Append(fx.StartStopHook(c.Start, c.Stop))
			return c, nil
		},
		eventsvc.AsSubscription(func(s *Store) eventsvc.Subscription { return s.Subscription() }),
		httpserver.AsRoutes(func(s *Store, c *Checkpointer) []httpserver.Route { return NewAPI(s, c).Routes() }),
	),
)
