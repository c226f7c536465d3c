package deadletter

import (
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// Module provides the Store (as eventsvc.DeadLetterStore), its migration, its purge
// schedule and its routes.
var Module = fx.Module("eventsvc/deadletter",
	config.Provide[Config]("events.deadLetters"),
	database.AsMigrations(Migrations...),
	fx.Provide(
		func(lc fx.Lifecycle, db *database.DB, cfg Config, log zerolog.Logger) *Store {
			s := NewStore(db, cfg, log.With().Str("module", "events.deadLetters").Logger())
			lc.Append(fx.StartStopHook(s.Start, s.Stop))
			return s
		},
		func(s *Store) eventsvc.DeadLetterStore { return s },
		httpserver.AsRoutes(func(s *Store, svc *eventsvc.Service) []httpserver.Route {
			return NewAPI(s, svc).Routes()
		}),
	),
)
