package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// CookieName is the cookie that carries a user token for browsers (as Backstage's
// backstage-auth). It is accepted on every method, but a request that changes state with it
// must come from this site (see Authenticate), so that a cross-site form cannot use it.
const CookieName = "backstage-auth"

// externalUseInterval is how often each external principal's use is audited.
const externalUseInterval = time.Hour

// Options are the inputs of [New]. Store and Publisher are required; the rest have the
// defaults of the configuration.
type Options struct {
	// Store keeps public keys and user info (NewDBStore to share them between instances).
	Store Store
	// Publisher receives the audit records (topic auth.audit).
	Publisher eventsvc.Publisher
	// AuditLog, when set, writes the audit records durably before they are published; see
	// [AuditorOptions].AuditLog.
	AuditLog eventsvc.Publisher
	// Logger receives operational logs (never a token or secret).
	Logger zerolog.Logger
	// Registerer, when set, receives the audit metrics and counts failed key rotations.
	Registerer prometheus.Registerer
	// BaseURL is backend.baseUrl; user tokens are issued by BaseURL/api/auth (the iss
	// claim), which every instance sharing the database must agree on.
	BaseURL string
	// Environment is auth.environment (default production).
	Environment config.Environment
	// Admins are the user refs allowed on admin routes.
	Admins []string
	// KeyRotation is how long one private key signs (default 1h).
	KeyRotation time.Duration
	// TokenExpiration is the user token lifetime (default 1h), clamped to 10m–24h.
	TokenExpiration time.Duration
	// TrustedOrigins are other sites whose pages may change state with the session cookie
	// (backend.cors.origin: a Backstage frontend's).
	TrustedOrigins []string
	// IncludeOwnershipClaim puts the ent claim into user tokens (the module sets it unless
	// auth.omitIdentityTokenOwnershipClaim is true).
	IncludeOwnershipClaim bool
	// Guest configures the guest provider; a zero value means the defaults.
	Guest GuestProvider
	// ExternalAccess are the external callers (backend.auth.externalAccess).
	ExternalAccess []ExternalAccess
	// Clock returns the current time (default time.Now); tests move it to rotate and expire.
	Clock func() time.Time
	// HTTPClient fetches external issuers' JWKS (default: a client with a 10s timeout).
	HTTPClient *http.Client

	// jwksCooldown is how often an unknown kid may refetch an issuer's JWKS (default 30s);
	// tests shorten it.
	jwksCooldown time.Duration
}

// Service is Stagebus's auth: it signs and verifies tokens with rotating per-instance keys,
// authenticates requests for the HTTP server ([Service.Authenticate]), serves the auth
// routes, and audits on the bus. It is safe for concurrent use. Start publishes the first
// key and starts background rotation and asynchronous audit publishing; Stop ends them.
// Without Start (unit tests), keys are made on first use and audit records are published
// synchronously.
type Service struct {
	store            Store
	keys             *keyring
	auditor          *Auditor
	log              zerolog.Logger
	now              func() time.Time
	issuer           string
	env              config.Environment
	admins           map[string]bool
	tokenExpiration  time.Duration
	includeOwnership bool
	guest            GuestProvider
	external         []*externalEntry
	hasJWKS          bool
	// bg is the service's own context for background work (JWKS fetches), cancelled by
	// Stop; bgWork counts the goroutines that use it.
	bg           context.Context
	stopBG       context.CancelFunc
	bgWork       sync.WaitGroup
	secureCookie bool
	// csrf refuses cross-origin state-changing requests that carry the session cookie.
	csrf *http.CrossOriginProtection

	seenMu sync.Mutex
	seen   map[string]time.Time // external principal → last audited use
}

var _ httpserver.Authenticator = (*Service)(nil)

// New checks the options and builds the service; nothing is generated or stored before
// Start.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Publisher == nil {
		return nil, errors.New("auth: a store and a publisher are required")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.BaseURL == "" {
		o.BaseURL = "http://localhost:7007"
	}
	if o.Environment == "" {
		o.Environment = config.Production
	}
	if o.KeyRotation <= 0 {
		o.KeyRotation = DefaultKeyRotation
	}
	if o.TokenExpiration <= 0 {
		o.TokenExpiration = DefaultTokenExpiration
	}
	if o.Guest.UserEntityRef == "" {
		o.Guest.UserEntityRef = DefaultGuestRef
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.jwksCooldown <= 0 {
		o.jwksCooldown = jwksCooldown
	}
	errs := []error{o.Guest.Validate(), BackendAuth{ExternalAccess: o.ExternalAccess}.Validate()}
	for i, a := range o.Admins {
		if err := validateUserRef(a); err != nil {
			errs = append(errs, fmt.Errorf("admins[%d]: %w", i, err))
		}
	}
	for i, e := range o.ExternalAccess {
		if err := e.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("externalAccess[%d]: %w", i, err))
		}
		for j, r := range e.AccessRestrictions {
			if err := r.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("externalAccess[%d].accessRestrictions[%d]: %w", i, j, err))
			}
		}
	}
	for _, weak := range WeakStaticTokens(o.ExternalAccess) {
		if o.Environment != config.Development {
			errs = append(errs, errors.New(weak))
			continue
		}
		o.Logger.Warn().Msg(weak + " (accepted only because auth.environment is development)")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	expiration, clamped := ClampTokenExpiration(o.TokenExpiration)
	if clamped {
		o.Logger.Warn().Dur("configured", o.TokenExpiration).Dur("used", expiration).
			Msg("auth.backstageTokenExpiration is outside 10m–24h; clamped")
	}
	auditor, err := NewAuditor(o.Publisher, o.Logger, AuditorOptions{Registerer: o.Registerer, AuditLog: o.AuditLog})
	if err != nil {
		return nil, err
	}
	bg, stopBG := context.WithCancel(context.Background())
	s := &Service{
		bg:               bg,
		stopBG:           stopBG,
		store:            o.Store,
		keys:             newKeyring(o.Store, o.Environment, o.KeyRotation, max(expiration, ServiceTokenLifetime), o.Clock, o.Logger, o.Registerer),
		auditor:          auditor,
		log:              o.Logger,
		now:              o.Clock,
		issuer:           strings.TrimSuffix(o.BaseURL, "/") + "/api/auth",
		env:              o.Environment,
		admins:           map[string]bool{},
		tokenExpiration:  expiration,
		includeOwnership: o.IncludeOwnershipClaim,
		guest:            o.Guest,
		secureCookie:     strings.HasPrefix(o.BaseURL, "https://"),
		csrf:             http.NewCrossOriginProtection(),
		seen:             map[string]time.Time{},
	}
	s.external = newExternalEntries(bg, &s.bgWork, o.ExternalAccess, o.HTTPClient, o.jwksCooldown, o.Logger)
	for _, a := range o.Admins {
		s.admins[strings.ToLower(a)] = true
	}
	for _, e := range s.external {
		s.hasJWKS = s.hasJWKS || e.typ == ExternalJWKS
	}
	for _, origin := range o.TrustedOrigins {
		if err := s.csrf.AddTrustedOrigin(strings.TrimSuffix(origin, "/")); err != nil {
			return nil, fmt.Errorf("auth: trusted origin: %w", err)
		}
	}
	return s, nil
}

// Issuer returns the iss claim of the user tokens this service issues.
func (s *Service) Issuer() string { return s.issuer }

// Start makes and publishes the first signing key (a store that refuses it fails start-up),
// then rotates keys and purges expired ones on a goroutine of its own, starts the audit
// publishers, and begins fetching the external issuers' JWKS in the background (an issuer
// that is down does not fail start-up; its keys are fetched again later).
func (s *Service) Start(ctx context.Context) error {
	if err := s.keys.start(ctx); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := s.auditor.Start(ctx); err != nil {
		return err
	}
	for _, e := range s.external {
		if e.keys != nil {
			e.keys.start()
		}
	}
	return nil
}

// Stop ends key rotation and the JWKS fetches and refreshes (waiting for those under way to
// give up), and publishes the audit records still queued. A service that was never started
// may be stopped too, to end what its use began.
func (s *Service) Stop(ctx context.Context) error {
	s.stopBG()
	s.bgWork.Wait()
	return errors.Join(s.keys.stop(ctx), s.auditor.Stop(ctx))
}

// RotateKey replaces the signing key now. Tokens signed before stay valid until they
// expire, because the old public key stays in the store.
func (s *Service) RotateKey(ctx context.Context) error { return s.keys.rotate(ctx) }

// PurgeKeys deletes the public keys that have expired and returns how many.
func (s *Service) PurgeKeys(ctx context.Context) (int64, error) { return s.keys.purge(ctx) }

// credentials are what verified credentials say about the caller.
type credentials struct {
	principal httpserver.Principal
	// restrictions are the route prefixes the caller may call; nil means all.
	restrictions []string
	// source names the backend.auth.externalAccess entry of an external caller.
	source     string
	sourceType string
	kind       string
	expiresAt  time.Time
	// session identifies the sign-in of a user or limited user token (see sessionKey).
	session string
}

// verify checks a token: a static external token, a Stagebus user or service token
// (recognised by typ), or a token of an external JWKS issuer.
func (s *Service) verify(ctx context.Context, tok string, route httpserver.Route) (credentials, *RefusalError) {
	if len(tok) > MaxTokenLength {
		return credentials{}, unauthenticated(reasonTooLarge)
	}
	if e := s.matchStatic(tok); e != nil {
		return credentials{
			principal:    httpserver.Principal{Type: httpserver.PrincipalService, Subject: e.subject},
			restrictions: e.restrictions, source: e.label, sourceType: ExternalStatic, kind: "external",
		}, nil
	}
	h, ok := parseHeader(tok)
	if !ok {
		return credentials{}, unauthenticated(reasonInvalid)
	}
	switch h.Typ {
	case TypeUser, TypeLimitedUser, TypePlugin:
		return s.verifyOwn(ctx, tok, h, route)
	}
	if s.hasJWKS {
		return s.verifyJWKS(ctx, tok, h)
	}
	return credentials{}, unauthenticated(reasonType)
}

// tokenFromRequest returns the bearer token, or the session cookie's, and how it came
// ("bearer", "cookie", or "none").
func tokenFromRequest(r *http.Request) (tok, via string, refusal *RefusalError) {
	if hs := r.Header.Values("Authorization"); len(hs) > 0 {
		if len(hs) > 1 {
			return "", "header", unauthenticated(reasonScheme)
		}
		scheme, rest, _ := strings.Cut(strings.TrimSpace(hs[0]), " ")
		rest = strings.TrimSpace(rest)
		if !strings.EqualFold(scheme, "Bearer") || rest == "" {
			return "", "header", unauthenticated(reasonScheme)
		}
		return rest, "bearer", nil
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		return c.Value, "cookie", nil
	}
	return "", "none", unauthenticated(reasonMissing)
}

// Authenticate implements httpserver.Authenticator: it verifies the request's token (401
// when missing or invalid), then checks the caller's access restrictions and, on admin
// routes, that the caller is an admin (403). Every refusal is audited with its reason, and
// each external principal's use once an hour.
func (s *Service) Authenticate(r *http.Request, route httpserver.Route) (httpserver.Principal, error) {
	ctx := r.Context()
	tok, via, refusal := tokenFromRequest(r)
	var c credentials
	if refusal == nil {
		c, refusal = s.verify(ctx, tok, route)
	}
	if refusal != nil {
		severity := SeverityMedium
		if via == "none" {
			severity = SeverityLow
		}
		s.audit(ctx, r, AuditRecord{EventID: EventAuthenticate, SeverityLevel: severity, Status: StatusFailed, Error: refusal.Reason,
			Meta: map[string]any{"reason": refusal.Reason, "route": route.Pattern(), "credentials": via}})
		return httpserver.Principal{}, refusal
	}
	if c.session != "" {
		ended, err := s.store.SessionEnded(ctx, c.session)
		if err != nil || ended {
			reason := reasonSessionEnded
			if err != nil {
				s.log.Error().Err(err).Msg("cannot check whether a session was logged out")
				reason = reasonUnverifiable
			}
			s.audit(ctx, r, AuditRecord{EventID: EventAuthenticate, SeverityLevel: SeverityMedium, Status: StatusFailed, Error: reason,
				Actor: AuditActor{ActorID: c.principal.Subject}, Meta: map[string]any{"reason": reason, "route": route.Pattern(), "credentials": via}})
			return httpserver.Principal{}, unauthenticated(reason)
		}
	}
	if via == "cookie" {
		// A browser sends the cookie with requests other sites make it send: a
		// state-changing one must come from this origin (Sec-Fetch-Site, else Origin).
		if err := s.csrf.Check(r); err != nil {
			refusal = forbidden("cross-origin request refused: a request that changes state with the session cookie must come from this site")
		}
	}
	if refusal == nil {
		refusal = s.authorize(c, route)
	}
	if refusal != nil {
		severity := SeverityMedium
		if route.Auth == httpserver.RequireAdmin {
			severity = SeverityHigh
		}
		meta := map[string]any{"reason": refusal.Reason, "route": route.Pattern(), "policy": route.Auth.String(), "principalType": string(c.principal.Type)}
		if c.source != "" {
			meta["externalAccess"] = c.source
		}
		s.audit(ctx, r, AuditRecord{EventID: EventAuthorize, SeverityLevel: severity, Status: StatusFailed, Error: refusal.Reason,
			Actor: AuditActor{ActorID: c.principal.Subject}, Meta: meta})
		return httpserver.Principal{}, refusal
	}
	if c.source != "" {
		s.noteExternalUse(r, c, route)
	}
	return c.principal, nil
}

// authorize applies access restrictions and the admin policy.
func (s *Service) authorize(c credentials, route httpserver.Route) *RefusalError {
	if !routeAllowed(c.restrictions, route.Path) {
		return forbidden("%s is restricted from calling %s", c.principal.Subject, route.Path)
	}
	if route.Auth != httpserver.RequireAdmin {
		return nil
	}
	switch c.principal.Type {
	case httpserver.PrincipalService:
		return nil // not restricted away from this route, checked above
	case httpserver.PrincipalUser:
		if s.admins[strings.ToLower(c.principal.Subject)] {
			return nil
		}
	}
	return forbidden("%s is not an admin (auth.admins)", c.principal.Subject)
}

// IsAdmin reports whether p is a person listed in auth.admins. Pages use it to show admin
// actions and data; a service principal (whose access restrictions it cannot see) is no
// admin here, though admin routes it is not restricted from still admit it.
func (s *Service) IsAdmin(p httpserver.Principal) bool {
	return p.Type == httpserver.PrincipalUser && s.admins[strings.ToLower(p.Subject)]
}

// routeAllowed reports whether path is under one of the prefixes (segment-wise); nil
// prefixes allow everything.
func routeAllowed(prefixes []string, path string) bool {
	if prefixes == nil {
		return true
	}
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// noteExternalUse audits an external principal's first use in each hour (per instance).
func (s *Service) noteExternalUse(r *http.Request, c credentials, route httpserver.Route) {
	now := s.now()
	key := c.source + "\x00" + c.principal.Subject
	s.seenMu.Lock()
	if last, ok := s.seen[key]; ok && now.Sub(last) < externalUseInterval {
		s.seenMu.Unlock()
		return
	}
	s.seen[key] = now
	if len(s.seen) > 10000 {
		for k, t := range s.seen {
			if now.Sub(t) >= externalUseInterval {
				delete(s.seen, k)
			}
		}
	}
	s.seenMu.Unlock()
	s.audit(r.Context(), r, AuditRecord{EventID: EventExternalAccess, SeverityLevel: SeverityLow, Status: StatusSucceeded,
		Actor: AuditActor{ActorID: c.principal.Subject},
		Meta:  map[string]any{"externalAccess": c.source, "type": c.sourceType, "route": route.Pattern()}})
}

// audit stamps rec with the time and the request's facts and hands it to the auditor.
func (s *Service) audit(ctx context.Context, r *http.Request, rec AuditRecord) {
	rec.Timestamp = s.now()
	requestFacts(&rec, r)
	s.auditor.Record(ctx, rec)
}
