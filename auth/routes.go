package auth

import (
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagebus/stagebus/httpserver"
)

// The auth routes.
const (
	JWKSPath         = "/api/auth/.well-known/jwks.json"
	OpenIDConfigPath = "/api/auth/.well-known/openid-configuration"
	UserInfoPath     = "/api/auth/v1/userinfo"
	CookiePath       = "/api/auth/v1/cookie"
	GuestRefreshPath = "/api/auth/guest/refresh"
)

// Routes returns the auth routes:
//
//   - GET /api/auth/.well-known/jwks.json (unauthenticated): the public keys that verify
//     tokens here, {"keys": [JWK…]}: those made by instances of this auth.environment;
//   - GET /api/auth/.well-known/openid-configuration (unauthenticated): the issuer, where its
//     keys and userinfo are, and what it signs with, as Backstage's auth backend describes
//     itself;
//   - GET /api/auth/v1/userinfo (user credentials, limited user tokens too):
//     {"claims": {"sub", "ent"}} of the caller, as Backstage answers; any other principal gets
//     400;
//   - GET /api/auth/v1/cookie (user credentials): sets the backstage-auth cookie to the
//     caller's token for browsers, {"expiresAt"};
//   - GET /api/auth/guest/refresh (unauthenticated): a user token for the guest, refused with
//     403 unless auth.environment is development or the provider's
//     dangerouslyAllowOutsideDevelopment is set.
func (s *Service) Routes() []httpserver.Route {
	return []httpserver.Route{
		{Method: http.MethodGet, Path: JWKSPath, Handler: http.HandlerFunc(s.serveJWKS), Auth: httpserver.Unauthenticated},
		{Method: http.MethodGet, Path: OpenIDConfigPath, Handler: http.HandlerFunc(s.serveOpenIDConfig), Auth: httpserver.Unauthenticated},
		{Method: http.MethodGet, Path: UserInfoPath, Handler: http.HandlerFunc(s.serveUserInfo), Auth: httpserver.UserCookie},
		{Method: http.MethodGet, Path: CookiePath, Handler: http.HandlerFunc(s.serveCookie)},
		{Method: http.MethodGet, Path: GuestRefreshPath, Handler: http.HandlerFunc(s.serveGuestRefresh), Auth: httpserver.Unauthenticated},
	}
}

func (s *Service) serveJWKS(w http.ResponseWriter, r *http.Request) {
	keys, err := s.store.PublicKeys(r.Context(), s.now())
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	set := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		if k.Environment == s.env { // another environment's keys verify nothing here
			set.Keys = append(set.Keys, k.JWK)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	httpserver.WriteJSON(w, http.StatusOK, set)
}

// refuse answers 403 and audits it.
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, actor, reason string, meta map[string]any) {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["reason"] = reason
	meta["route"] = r.Pattern
	s.audit(r.Context(), r, AuditRecord{EventID: EventAuthorize, SeverityLevel: SeverityHigh, Status: StatusFailed, Error: reason,
		Actor: AuditActor{ActorID: actor}, Meta: meta})
	httpserver.WriteError(w, r, httpserver.Errorf(http.StatusForbidden, "%s", reason))
}

// OpenIDConfiguration is the body of GET /api/auth/.well-known/openid-configuration, in
// the order of Backstage's auth backend. Stagebus issues tokens only through its sign-in
// routes, so it lists no token endpoint and no grant types.
type OpenIDConfiguration struct {
	Issuer                            string   `json:"issuer"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
}

func (s *Service) serveOpenIDConfig(w http.ResponseWriter, _ *http.Request) {
	httpserver.WriteJSON(w, http.StatusOK, OpenIDConfiguration{
		Issuer:                            s.issuer,
		UserinfoEndpoint:                  s.issuer + "/v1/userinfo",
		JWKSURI:                           s.issuer + "/.well-known/jwks.json",
		ResponseTypesSupported:            []string{"id_token"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{Algorithm},
		ScopesSupported:                   []string{"openid"},
		TokenEndpointAuthMethodsSupported: []string{},
		ClaimsSupported:                   []string{"sub", "ent"},
		GrantTypesSupported:               []string{},
	})
}

// UserInfoClaims is the body of GET /api/auth/v1/userinfo, Backstage's shape: the user and
// the entities it owns through (itself and its groups).
type UserInfoClaims struct {
	Claims struct {
		Sub string   `json:"sub"`
		Ent []string `json:"ent"`
	} `json:"claims"`
}

func (s *Service) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	p := httpserver.PrincipalFromContext(r.Context())
	if p.Type != httpserver.PrincipalUser {
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "userinfo must be called with a token that represents a user principal"))
		return
	}
	info, err := s.store.UserInfo(r.Context(), p.Subject)
	if errors.Is(err, ErrUserNotFound) { // e.g. a user of an external issuer: it owns itself
		info, err = UserInfo{UserEntityRef: p.Subject, OwnershipEntityRefs: []string{p.Subject}}, nil
	}
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	var body UserInfoClaims
	body.Claims.Sub, body.Claims.Ent = info.UserEntityRef, info.OwnershipEntityRefs
	httpserver.WriteJSON(w, http.StatusOK, body)
}

func (s *Service) serveCookie(w http.ResponseWriter, r *http.Request) {
	p := httpserver.PrincipalFromContext(r.Context())
	if p.Type != httpserver.PrincipalUser {
		s.refuse(w, r, p.Subject, "only user tokens can be stored in a cookie", map[string]any{"principalType": string(p.Type)})
		return
	}
	tok, _, refusal := tokenFromRequest(r)
	if refusal != nil { // Authenticate found it; only a broken handler chain gets here
		httpserver.WriteError(w, r, refusal)
		return
	}
	// The token was verified by Authenticate for this very request.
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil || c.ExpiresAt == nil {
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "the token has no expiry"))
		return
	}
	s.SetSessionCookie(w, Token{Token: tok, ExpiresAt: c.ExpiresAt.Time})
	httpserver.WriteJSON(w, http.StatusOK, map[string]string{"expiresAt": c.ExpiresAt.UTC().Format(time.RFC3339)})
}

// SetSessionCookie makes a user token the browser's session: the backstage-auth cookie,
// HttpOnly, SameSite=Lax (sent on the top-level navigation back from a sign-in provider, never
// with another site's requests that change state: see Authenticate), Secure when
// backend.baseUrl is https, expiring with the token.
func (s *Service) SetSessionCookie(w http.ResponseWriter, tok Token) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: tok.Token, Path: "/", Expires: tok.ExpiresAt,
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie ends the browser's session.
func (s *Service) ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
}

// EndSession logs out the request's browser session: the sign-in of its session cookie's user
// token ends, so that neither that token nor its limited token opens anything more, however it
// is sent (the ended session is remembered until the token expires), and the cookie is
// cleared. It returns the session's user, "" when the request had none.
func (s *Service) EndSession(w http.ResponseWriter, r *http.Request) (string, error) {
	defer s.ClearSessionCookie(w)
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return "", nil
	}
	h, ok := parseHeader(c.Value)
	if !ok || h.Typ != TypeUser {
		return "", nil
	}
	cred, refusal := s.verifyOwn(r.Context(), c.Value, h, httpserver.Route{})
	if refusal != nil {
		return "", nil
	}
	// Remembered until the token is refused anyway: its expiry and the clock skew allowed.
	if err := s.store.EndSession(r.Context(), cred.session, cred.expiresAt.Add(Leeway)); err != nil {
		return cred.principal.Subject, err
	}
	return cred.principal.Subject, nil
}

// SecureCookies reports whether cookies are marked Secure (backend.baseUrl is https).
func (s *Service) SecureCookies() bool { return s.secureCookie }

// GuestResponse is the body of GET /api/auth/guest/refresh, as Backstage's guest provider
// answers.
type GuestResponse struct {
	Profile           struct{}          `json:"profile"`
	BackstageIdentity BackstageIdentity `json:"backstageIdentity"`
}

// BackstageIdentity is a signed-in identity and its token.
type BackstageIdentity struct {
	Token            string   `json:"token"`
	ExpiresInSeconds int64    `json:"expiresInSeconds"`
	Identity         Identity `json:"identity"`
}

// Identity is the user a token was issued for.
type Identity struct {
	Type                string   `json:"type"`
	UserEntityRef       string   `json:"userEntityRef"`
	OwnershipEntityRefs []string `json:"ownershipEntityRefs"`
}

// guestRefused is the reason guest sign-in is refused outside development.
const guestRefused = "guest sign-in is only allowed with auth.environment: development (or auth.providers.guest.dangerouslyAllowOutsideDevelopment: true)"

// GuestAllowed reports whether guest sign-in is open: in development, or where
// auth.providers.guest.dangerouslyAllowOutsideDevelopment says so.
func (s *Service) GuestAllowed() bool {
	return s.env.IsDevelopment() || s.guest.DangerouslyAllowOutsideDevelopment
}

// GuestSignIn signs the browser of r in as the guest (auth.providers.guest.userEntityRef):
// the session cookie is set on w and the sign-in audited. Where guest sign-in is not open it
// is refused with an [httpserver.Error] 403 and audited.
func (s *Service) GuestSignIn(w http.ResponseWriter, r *http.Request) error {
	if !s.GuestAllowed() {
		s.audit(r.Context(), r, AuditRecord{EventID: EventSignIn, SeverityLevel: SeverityMedium, Status: StatusFailed, Error: guestRefused,
			Meta: map[string]any{"provider": "guest", "environment": string(s.env)}})
		return &httpserver.Error{Status: http.StatusForbidden, Name: "NotAllowedError", Message: guestRefused}
	}
	tok, err := s.SignIn(r.Context(), r, "guest", s.guestInfo())
	if err != nil {
		return err
	}
	s.SetSessionCookie(w, tok)
	return nil
}

func (s *Service) guestInfo() UserInfo {
	return UserInfo{UserEntityRef: s.guest.UserEntityRef, OwnershipEntityRefs: s.guest.Ownership()}
}

func (s *Service) serveGuestRefresh(w http.ResponseWriter, r *http.Request) {
	if !s.GuestAllowed() {
		s.refuse(w, r, "", guestRefused, map[string]any{"provider": "guest", "environment": string(s.env)})
		return
	}
	id := s.guestInfo()
	tok, err := s.issueUserToken(r.Context(), id, r, "guest")
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	var body GuestResponse
	body.BackstageIdentity = BackstageIdentity{
		Token:            tok.Token,
		ExpiresInSeconds: int64(tok.ExpiresAt.Sub(s.now()).Seconds()),
		Identity:         Identity{Type: "user", UserEntityRef: id.UserEntityRef, OwnershipEntityRefs: id.OwnershipEntityRefs},
	}
	w.Header().Set("Cache-Control", "no-store")
	httpserver.WriteJSON(w, http.StatusOK, body)
}
