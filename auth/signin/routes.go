package signin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/httpserver"
)

// Cookie lifetimes.
const (
	// nonceLifetime is how long a started sign-in may take to come back.
	nonceLifetime = 10 * time.Minute
	// refreshLifetime is how long the refresh cookie is kept.
	refreshLifetime = 30 * 24 * time.Hour
)

// Service serves the sign-in routes of the configured providers.
type Service struct {
	auth      *auth.Service
	users     *Users
	providers []Provider
	env       config.Environment
	baseURL   *url.URL
	// origins are the origins a popup's result may be posted to and a redirect may go to:
	// backend.baseUrl's, and auth.experimentalExtraAllowedOrigins.
	origins map[string]bool
	log     zerolog.Logger
}

// Options build a Service.
type Options struct {
	Auth         *auth.Service
	Users        *Users
	Providers    []Provider
	Environment  config.Environment
	BaseURL      string
	ExtraOrigins []string
	Logger       zerolog.Logger
}

// New returns the sign-in service.
func New(o Options) (*Service, error) {
	base, err := url.Parse(strings.TrimSuffix(o.BaseURL, "/"))
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("signin: backend.baseUrl %q is not a URL", o.BaseURL)
	}
	s := &Service{auth: o.Auth, users: o.Users, env: o.Environment, baseURL: base, log: o.Logger,
		origins: map[string]bool{base.Scheme + "://" + base.Host: true}}
	for _, o := range o.ExtraOrigins {
		s.origins[strings.TrimSuffix(o, "/")] = true
	}
	for _, p := range o.Providers {
		if p != nil {
			s.providers = append(s.providers, p)
		}
	}
	return s, nil
}

// Routes returns start, handler/frame, refresh and logout for each provider; all are
// unauthenticated (the provider, the state and the cookies are the credentials).
func (s *Service) Routes() []httpserver.Route {
	var out []httpserver.Route
	for _, p := range s.providers {
		base := "/api/auth/" + p.ID()
		out = append(out,
			httpserver.Route{Method: http.MethodGet, Path: base + "/start", Handler: s.start(p), Auth: httpserver.Unauthenticated},
			httpserver.Route{Method: http.MethodGet, Path: base + "/handler/frame", Handler: s.frame(p), Auth: httpserver.Unauthenticated},
			httpserver.Route{Method: http.MethodGet, Path: base + "/refresh", Handler: s.refresh(p), Auth: httpserver.Unauthenticated},
			httpserver.Route{Method: http.MethodPost, Path: base + "/logout", Handler: s.logout(p), Auth: httpserver.Unauthenticated},
		)
	}
	return out
}

func (s *Service) callback(p Provider) string {
	return s.baseURL.String() + "/api/auth/" + p.ID() + "/handler/frame"
}

func nonceCookie(p Provider) string   { return p.ID() + "-nonce" }
func refreshCookie(p Provider) string { return p.ID() + "-refresh-token" }

// state is what start carries through the provider to the callback, Backstage's way:
// base64url of URL-encoded pairs.
type state struct {
	nonce, env, origin, flow, redirectURL string
}

func (st state) encode() string {
	v := url.Values{}
	for k, x := range map[string]string{"nonce": st.nonce, "env": st.env, "origin": st.origin, "flow": st.flow, "redirectUrl": st.redirectURL} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

func decodeState(s string) (state, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return state{}, false
	}
	v, err := url.ParseQuery(string(b))
	if err != nil || v.Get("nonce") == "" {
		return state{}, false
	}
	return state{nonce: v.Get("nonce"), env: v.Get("env"), origin: v.Get("origin"), flow: v.Get("flow"), redirectURL: v.Get("redirectUrl")}, true
}

// allowedRedirect reports whether a redirect after sign-in may go to target: a path of this
// backend, or a URL of an allowed origin.
func (s *Service) allowedRedirect(target string) bool {
	// Browsers drop tabs and newlines from URLs and read \ as /: /\t/evil.example would be
	// //evil.example to them.
	if target == "" || strings.ContainsFunc(target, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return false
	}
	u, err := url.Parse(target)
	if err != nil {
		return false
	}
	if u.Scheme == "" && u.Host == "" {
		return strings.HasPrefix(target, "/") && !strings.HasPrefix(target, "//")
	}
	return u.Host != "" && s.origins[u.Scheme+"://"+u.Host]
}

func (s *Service) start(p Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		st := state{env: q.Get("env"), origin: q.Get("origin"), flow: q.Get("flow"), redirectURL: q.Get("redirectUrl")}
		switch {
		case st.env != "" && st.env != string(s.env):
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "env %q: this backend signs in for the %s environment", st.env, s.env))
			return
		case st.origin != "" && !s.origins[st.origin]:
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "origin %q is not allowed: add it to auth.experimentalExtraAllowedOrigins", st.origin))
			return
		case st.flow != "" && st.flow != "popup" && st.flow != "redirect":
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "flow must be popup or redirect, got %q", st.flow))
			return
		case st.flow == "redirect" && !s.allowedRedirect(st.redirectURL):
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "redirectUrl must be a path of this backend or a URL of an allowed origin"))
			return
		}
		st.nonce = randomString()
		verifier := oauth2.GenerateVerifier()
		target, err := p.AuthCodeURL(r.Context(), st.encode(), st.nonce, verifier, s.callback(p))
		if err != nil {
			s.audit(r, p, auth.EventSignIn, err)
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadGateway, "the sign-in provider %s cannot be reached; try again later", p.ID()))
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: nonceCookie(p), Value: st.nonce + "." + verifier, Path: "/api/auth/" + p.ID() + "/handler",
			MaxAge: int(nonceLifetime.Seconds()), HttpOnly: true, Secure: s.auth.SecureCookies(), SameSite: http.SameSiteLaxMode,
		})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusFound)
	}
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// signInError is a refused or failed sign-in: what the person is told (Name, Message), and
// what the audit log records (reason).
type signInError struct {
	status        int
	name, message string
	reason        string
}

func (e *signInError) Error() string { return e.reason }

var (
	refusedMessage = "sign-in refused: this account may not sign in here"
	failedMessage  = "sign-in failed; start again"
)

func failed(reason string, args ...any) *signInError {
	return &signInError{status: http.StatusUnauthorized, name: "AuthenticationError", message: failedMessage, reason: fmt.Sprintf(reason, args...)}
}

// signedIn is the response of a sign-in and a refresh, Backstage's shape.
type signedIn struct {
	Profile           Profile                `json:"profile"`
	ProviderInfo      map[string]any         `json:"providerInfo"`
	BackstageIdentity auth.BackstageIdentity `json:"backstageIdentity"`
}

// complete resolves the person a provider vouched for and issues their token.
func (s *Service) complete(r *http.Request, p Provider, res Result) (signedIn, auth.Token, error) {
	info, resolver, err := s.users.Resolve(r.Context(), p.Resolvers(), res.Identity)
	if errors.Is(err, errNoUser) {
		return signedIn{}, auth.Token{}, &signInError{status: http.StatusForbidden, name: "NotAllowedError", message: refusedMessage,
			reason: fmt.Sprintf("%v (resolvers %s; email %q, username %q)", err, resolver, res.Identity.Email, res.Identity.Username)}
	}
	if err != nil {
		return signedIn{}, auth.Token{}, err
	}
	tok, err := s.auth.SignIn(r.Context(), r, p.ID(), info)
	if err != nil {
		return signedIn{}, auth.Token{}, err
	}
	out := signedIn{Profile: res.Profile, ProviderInfo: res.ProviderInfo, BackstageIdentity: auth.BackstageIdentity{
		Token: tok.Token, ExpiresInSeconds: int64(time.Until(tok.ExpiresAt).Seconds()),
		Identity: auth.Identity{Type: "user", UserEntityRef: info.UserEntityRef, OwnershipEntityRefs: info.OwnershipEntityRefs},
	}}
	if out.ProviderInfo == nil {
		out.ProviderInfo = map[string]any{}
	}
	return out, tok, nil
}

// audit records a refused or failed sign-in step.
func (s *Service) audit(r *http.Request, p Provider, event string, err error) {
	reason := err.Error()
	var se *signInError
	if !errors.As(err, &se) {
		s.log.Error().Err(err).Str("provider", p.ID()).Msg("sign-in failed")
	}
	s.auth.Audit(r.Context(), r, auth.AuditRecord{EventID: event, SeverityLevel: auth.SeverityMedium, Status: auth.StatusFailed,
		Error: reason, Meta: map[string]any{"provider": p.ID(), "reason": reason}})
}

func (s *Service) frame(p Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		st, ok := decodeState(q.Get("state"))
		origin := s.baseURL.Scheme + "://" + s.baseURL.Host
		if ok && st.origin != "" && s.origins[st.origin] {
			origin = st.origin
		}
		out, tok, err := s.callbackResult(w, r, p, st, ok)
		if err != nil {
			s.audit(r, p, auth.EventSignIn, err)
			se := &signInError{status: http.StatusInternalServerError, name: "Error", message: failedMessage}
			errors.As(err, &se)
			if st.flow == "redirect" {
				httpserver.WriteError(w, r, &httpserver.Error{Status: se.status, Name: se.name, Message: se.message})
				return
			}
			writeFrame(w, origin, map[string]any{"type": "authorization_response", "error": map[string]string{"name": se.name, "message": se.message}})
			return
		}
		s.auth.SetSessionCookie(w, tok)
		if st.flow == "redirect" {
			target := st.redirectURL
			if !s.allowedRedirect(target) { // start checked it; state came back through the provider
				target = "/"
			}
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
		writeFrame(w, origin, map[string]any{"type": "authorization_response", "response": out})
	}
}

// callbackResult checks a callback against its nonce cookie (clearing it: a state is used
// once), exchanges the code and signs the person in; it sets the refresh cookie.
func (s *Service) callbackResult(w http.ResponseWriter, r *http.Request, p Provider, st state, stateOK bool) (signedIn, auth.Token, error) {
	q := r.URL.Query()
	c, cerr := r.Cookie(nonceCookie(p))
	http.SetCookie(w, &http.Cookie{Name: nonceCookie(p), Path: "/api/auth/" + p.ID() + "/handler", MaxAge: -1, HttpOnly: true, Secure: s.auth.SecureCookies(), SameSite: http.SameSiteLaxMode})
	if e := q.Get("error"); e != "" {
		return signedIn{}, auth.Token{}, failed("the provider answered error %q: %s", e, q.Get("error_description"))
	}
	if !stateOK {
		return signedIn{}, auth.Token{}, failed("the state parameter is missing or malformed")
	}
	if cerr != nil {
		return signedIn{}, auth.Token{}, failed("no sign-in was started from this browser (the nonce cookie is missing or expired)")
	}
	nonce, verifier, _ := strings.Cut(c.Value, ".")
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(st.nonce)) != 1 || verifier == "" {
		return signedIn{}, auth.Token{}, failed("the state does not match the sign-in started from this browser")
	}
	res, err := p.Exchange(r.Context(), q.Get("code"), verifier, nonce, s.callback(p))
	if err != nil {
		return signedIn{}, auth.Token{}, failed("%v", err)
	}
	out, tok, err := s.complete(r, p, res)
	if err != nil {
		return signedIn{}, auth.Token{}, err
	}
	s.setRefresh(w, p, res.RefreshToken)
	return out, tok, nil
}

func (s *Service) setRefresh(w http.ResponseWriter, p Provider, token string) {
	if token == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: refreshCookie(p), Value: token, Path: "/api/auth/" + p.ID(), MaxAge: int(refreshLifetime.Seconds()),
		HttpOnly: true, Secure: s.auth.SecureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Service) clearRefresh(w http.ResponseWriter, p Provider) {
	http.SetCookie(w, &http.Cookie{Name: refreshCookie(p), Path: "/api/auth/" + p.ID(), MaxAge: -1, HttpOnly: true, Secure: s.auth.SecureCookies(), SameSite: http.SameSiteLaxMode})
}

// writeFrame answers the page a sign-in popup ends on: it posts msg to the window that opened
// it, at origin only, and closes. Its one script is allowed by its hash, nothing else is.
func writeFrame(w http.ResponseWriter, origin string, msg any) {
	data, _ := json.Marshal(msg) // escapes <, > and &: safe inside a script element
	target, _ := json.Marshal(origin)
	script := fmt.Sprintf("(window.opener||window.parent).postMessage(%s,%s);setTimeout(function(){window.close()},100);", data, target)
	sum := sha256.Sum256([]byte(script))
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	_, _ = fmt.Fprintf(w, "<!doctype html><html><head><title>Sign-in</title></head><body><script>%s</script></body></html>", script)
}

// requireXHR refuses the request unless it carries X-Requested-With: XMLHttpRequest, which a
// cross-site form cannot send, as Backstage requires on refresh and logout.
func requireXHR(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-Requested-With") != "XMLHttpRequest" {
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusUnauthorized, "invalid X-Requested-With header"))
		return false
	}
	return true
}

func (s *Service) refresh(p Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !requireXHR(w, r) {
			return
		}
		out, err := s.refreshed(w, r, p)
		if err != nil {
			s.audit(r, p, auth.EventSignInRefresh, err)
			se := &signInError{status: http.StatusInternalServerError, name: "Error", message: failedMessage}
			errors.As(err, &se)
			httpserver.WriteError(w, r, &httpserver.Error{Status: se.status, Name: se.name, Message: se.message})
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpserver.WriteJSON(w, http.StatusOK, out)
	}
}

func (s *Service) refreshed(w http.ResponseWriter, r *http.Request, p Provider) (signedIn, error) {
	c, err := r.Cookie(refreshCookie(p))
	if err != nil || c.Value == "" {
		return signedIn{}, failed("no refresh cookie: sign in first")
	}
	res, err := p.Refresh(r.Context(), c.Value)
	if err != nil {
		s.clearRefresh(w, p)
		return signedIn{}, failed("%v", err)
	}
	out, tok, err := s.complete(r, p, res)
	if err != nil {
		return signedIn{}, err
	}
	s.setRefresh(w, p, res.RefreshToken)
	s.auth.SetSessionCookie(w, tok)
	return out, nil
}

func (s *Service) logout(p Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !requireXHR(w, r) {
			return
		}
		if err := s.signOut(w, r, []Provider{p}, p.ID()); err != nil {
			httpserver.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// ProviderIDs returns the ids of the configured providers (oidc, github), in the order of
// their modules: the sign-in routes under /api/auth/{id}/ exist for these.
func (s *Service) ProviderIDs() []string {
	out := make([]string, 0, len(s.providers))
	for _, p := range s.providers {
		out = append(out, p.ID())
	}
	return out
}

// SignOut ends the browser session of r whatever provider started it: the session ends (see
// auth.Service.EndSession) and every provider's refresh cookie is cleared. The logout is
// audited with via as its provider. An error is an [httpserver.Error] 503; the cookies are
// cleared all the same.
func (s *Service) SignOut(w http.ResponseWriter, r *http.Request, via string) error {
	return s.signOut(w, r, s.providers, via)
}

func (s *Service) signOut(w http.ResponseWriter, r *http.Request, providers []Provider, via string) error {
	for _, p := range providers {
		s.clearRefresh(w, p)
	}
	user, err := s.auth.EndSession(w, r)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot remember a logged-out session; its cookie is cleared")
		s.auth.Audit(r.Context(), r, auth.AuditRecord{EventID: auth.EventLogout, SeverityLevel: auth.SeverityMedium, Status: auth.StatusFailed,
			Error: "the session could not be ended", Actor: auth.AuditActor{ActorID: user}, Meta: map[string]any{"provider": via}})
		return httpserver.Errorf(http.StatusServiceUnavailable, "the session could not be ended; its cookie is cleared, try again")
	}
	s.auth.Audit(r.Context(), r, auth.AuditRecord{EventID: auth.EventLogout, SeverityLevel: auth.SeverityLow, Status: auth.StatusSucceeded,
		Actor: auth.AuditActor{ActorID: user}, Meta: map[string]any{"provider": via}})
	return nil
}
