package catalog

import (
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// LocationsConfig is catalog.locations: file and url locations read at start-up.
type LocationsConfig []LocationConfig

// Params are the fx inputs of the catalog.
type Params struct {
	fx.In
	Lifecycle  fx.Lifecycle
	DB         *database.DB
	Publisher  eventsvc.TxPublisher
	Logger     zerolog.Logger
	Locations  LocationsConfig
	Extensions []ModelExtension      `group:"catalog.model"`
	Readers    []Reader              `group:"catalog.readers"`
	Analyzers  []Analyzer            `group:"catalog.analyzers"`
	Registerer prometheus.Registerer `optional:"true"`
}

// Module provides the catalog Store and Locations (reading catalog.locations in the
// background once started), the API routes, and the migrations. Modules replace validators
// or the parser with AsModelExtension, read url locations with AsReader, and analyze
// repositories for POST /analyze-location with AsAnalyzer.
var Module = fx.Module("catalog",
	config.Provide[LocationsConfig]("catalog.locations"),
	database.AsMigrations(Migrations...),
	fx.Provide(
		func(p Params) (*Store, *Locations, error) {
			model, err := NewModel(p.Extensions)
			if err != nil {
				return nil, nil, err
			}
			log := p.Logger.With().Str("module", "catalog").Logger()
			store := NewStore(p.DB, p.Publisher, model, log)
			wd, err := os.Getwd()
			if err != nil {
				return nil, nil, err
			}
			locs := NewLocations(store, p.Readers, p.Analyzers, p.Locations, wd, log, p.Registerer)
			p.Lifecycle.Append(fx.StartStopHook(locs.Start, locs.Stop))
			return store, locs, nil
		},
		httpserver.AsRoutes(func(s *Store, l *Locations) []httpserver.Route { return NewAPI(s, l).Routes() }),
	),
)
