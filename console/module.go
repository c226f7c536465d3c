package console

import (
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/signin"
	"github.com/stagebus/stagebus/config"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
)

// params are the module's inputs.
type params struct {
	fx.In
	Config   Config
	Auth     *auth.Service
	SignIn   *signin.Service
	Sections []Section `group:"console.sections"`
	History  *sqlbus.History
	Logger   zerolog.Logger
}

// result is what the module gives the server: the console's routes and the answers to
// refused pages. With console.enabled false it gives neither.
type result struct {
	fx.Out
	Routes []httpserver.Route `group:"routes,flatten"`
	Pages  httpserver.PageResponder
}

// Module serves the console (console.enabled, default true) from the sections that join
// the "console.sections" group. It needs the auth and auth/signin modules.
var Module = fx.Module("console",
	config.Provide[Config]("console"),
	fx.Provide(func(p params) (*Console, result, error) {
		if !p.Config.Enabled {
			return nil, result{}, nil
		}
		c, err := New(Options{Sections: p.Sections, Auth: p.Auth, SignIn: p.SignIn, Tail: p.History, MaxStreams: p.Config.MaxStreams, Logger: p.Logger.With().Str("module", "console").Logger()})
		if err != nil {
			return nil, result{}, err
		}
		return c, result{Routes: c.Routes(), Pages: c}, nil
	}),
)
