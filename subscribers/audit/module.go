package audit

import (
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// Module provides the *Store, its migrations, its subscription (id audit-log, topic
// auth.audit) and its admin routes. It needs the database, eventsvc and httpserver modules.
var Module = fx.Module("subscribers/audit",
	database.AsMigrations(Migrations...),
	fx.Provide(
		func(db *database.DB, log zerolog.Logger) *Store {
			return NewStore(db, log.With().Str("module", "audit").Logger())
		},
		eventsvc.AsSubscription(func(s *Store) eventsvc.Subscription { return s.Subscription() }),
		httpserver.AsRoutes(func(s *Store) []httpserver.Route { return NewAPI(s).Routes() }),
	),
)
