package auth

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// Params are the fx inputs of the auth module.
type Params struct {
	fx.In
	Lifecycle          fx.Lifecycle
	DB                 *database.DB
	Publisher          eventsvc.Publisher
	AuditLog           eventsvc.Publisher `name:"auditLog" optional:"true"`
	Logger             zerolog.Logger
	Registerer         prometheus.Registerer `optional:"true"`
	BaseURL            httpserver.BaseURL
	CORS               httpserver.CORS `optional:"true"`
	Environment        config.Environment
	Admins             Admins
	KeyRotation        KeyRotation
	TokenExpiration    TokenExpiration
	OmitOwnershipClaim OmitOwnershipClaim
	Guest              GuestProvider
	BackendAuth        BackendAuth
}

// Provide builds the *Service from the configuration, on the shared database, started and
// stopped with the application.
func Provide(p Params) (*Service, error) {
	s, err := New(Options{
		Store:                 NewDBStore(p.DB),
		Publisher:             p.Publisher,
		AuditLog:              p.AuditLog,
		Logger:                p.Logger.With().Str("module", "auth").Logger(),
		Registerer:            p.Registerer,
		BaseURL:               string(p.BaseURL),
		TrustedOrigins:        p.CORS.Origin,
		Environment:           p.Environment,
		Admins:                p.Admins.Strings(),
		KeyRotation:           p.KeyRotation.Duration(),
		TokenExpiration:       p.TokenExpiration.Duration(),
		IncludeOwnershipClaim: !bool(p.OmitOwnershipClaim),
		Guest:                 p.Guest,
		ExternalAccess:        p.BackendAuth.ExternalAccess,
	})
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StartStopHook(s.Start, s.Stop))
	return s, nil
}

// Module provides the *Service as the server's httpserver.Authenticator (replacing the
// deny-all default), its routes, its migrations, and the configuration sections auth.admins,
// auth.keyRotation, auth.backstageTokenExpiration, auth.omitIdentityTokenOwnershipClaim,
// auth.providers.guest and backend.auth. It needs the database, httpserver and eventsvc modules
// (audit records go to the eventsvc.Publisher named auditLog when a module provides it —
// subscribers/audit does — else to the bus).
var Module = fx.Module("auth",
	config.Provide[Admins](AdminsPath),
	config.Provide[KeyRotation](KeyRotationPath),
	config.Provide[TokenExpiration](TokenExpirationPath),
	config.Provide[OmitOwnershipClaim](OmitOwnershipClaimPath),
	config.Provide[GuestProvider](GuestProviderPath),
	config.Provide[BackendAuth](BackendAuthPath),
	database.AsMigrations(Migrations...),
	fx.Provide(
		Provide,
		func(s *Service) httpserver.Authenticator { return s },
		httpserver.AsRoutes(func(s *Service) []httpserver.Route { return s.Routes() }),
	),
)
