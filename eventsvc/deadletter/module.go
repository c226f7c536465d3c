package deadletter

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// storeParams are the fx inputs of the Store.
type storeParams struct {
	fx.In
	Lifecycle  fx.Lifecycle
	DB         *database.DB
	Config     Config
	Logger     zerolog.Logger
	Registerer prometheus.Registerer `optional:"true"`
}

// Module provides the Store (also as eventsvc.DeadLetterStore), its migration, its purge
// schedule, and the API (one per app, so that its routes and the console replay a record
// one at a time) with its routes.
var Module = fx.Module("eventsvc/deadletter",
	config.Provide[Config]("events.deadLetters"),
	database.AsMigrations(Migrations...),
	fx.Provide(
		func(p storeParams) *Store {
			s := NewStore(p.DB, p.Config, p.Logger.With().Str("module", "events.deadLetters").Logger(), p.Registerer)
			p.Lifecycle.Append(fx.StartStopHook(s.Start, s.Stop))
			return s
		},
		func(s *Store) eventsvc.DeadLetterStore { return s },
		func(s *Store, svc *eventsvc.Service) *API { return NewAPI(s, svc) },
		httpserver.AsRoutes(func(a *API) []httpserver.Route { return a.Routes() }),
	),
)
