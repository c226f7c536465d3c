package signin

import (
	"fmt"
	"net/url"

	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/httpserver"
)

// ExtraOrigins is auth.experimentalExtraAllowedOrigins: origins besides backend.baseUrl's
// that a sign-in popup may post its result to and a sign-in may redirect to (a Backstage
// frontend's app.baseUrl), as in Backstage.
type ExtraOrigins []string

// Validate requires origins: scheme and host, nothing else.
func (o ExtraOrigins) Validate() error {
	for i, s := range o {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return config.Fieldf(fmt.Sprintf("[%d]", i), "must be an origin such as https://portal.example.com, got %q", s)
		}
	}
	return nil
}

// params are the module's inputs.
type params struct {
	fx.In
	Auth        *auth.Service
	Store       *catalog.Store
	Providers   []Provider `group:"auth.signin.providers"`
	Environment config.Environment
	BaseURL     httpserver.BaseURL
	Origins     ExtraOrigins
	Logger      zerolog.Logger
}

// Module serves the sign-in routes of the providers that join the "auth.signin.providers"
// group (AsProvider), resolving people in the catalog. It needs the auth and catalog modules.
var Module = fx.Module("auth/signin",
	config.Provide[ExtraOrigins]("auth.experimentalExtraAllowedOrigins"),
	fx.Provide(
		func(p params) (*Service, error) {
			return New(Options{Auth: p.Auth, Users: NewUsers(p.Store), Providers: p.Providers, Environment: p.Environment,
				BaseURL: string(p.BaseURL), ExtraOrigins: p.Origins, Logger: p.Logger.With().Str("module", "auth/signin").Logger()})
		},
		httpserver.AsRoutes(func(s *Service) []httpserver.Route { return s.Routes() }),
	),
)
