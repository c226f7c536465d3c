// Package oidc is the OpenID Connect sign-in provider (auth.providers.oidc): any issuer,
// through the authorization code flow with PKCE, state and nonce, its ID tokens verified
// against the issuer's keys (coreos/go-oidc, golang.org/x/oauth2).
package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/stagebus/stagebus/auth/signin"
	"github.com/stagebus/stagebus/config"
)

// ID is the provider's key in auth.providers and its routes' segment.
const ID = "oidc"

// DefaultScope is what is asked for when scope is not set.
const DefaultScope = "openid profile email"

const wellKnown = "/.well-known/openid-configuration"

// Config is auth.providers.oidc.<environment>, Backstage's keys.
type Config struct {
	// MetadataURL is the issuer's discovery document (…/.well-known/openid-configuration) or
	// the issuer itself.
	MetadataURL  string        `yaml:"metadataUrl"`
	ClientID     string        `yaml:"clientId"`
	ClientSecret config.Secret `yaml:"clientSecret"`
	// Prompt is passed on to the issuer (none, login, consent, select_account).
	Prompt string `yaml:"prompt"`
	// Scope is space-separated (default "openid profile email"; add offline_access for a
	// refresh token, without which a session cannot be refreshed).
	Scope  string              `yaml:"scope"`
	SignIn signin.SignInConfig `yaml:"signIn"`
}

// Enabled reports whether the entry is set: one whose metadataUrl, clientId and
// clientSecret are all empty is off, so that a deployment's file can leave them to
// environment variables it may not set (as docker-compose.yml does).
func (c Config) Enabled() bool {
	return c.MetadataURL != "" || c.ClientID != "" || c.ClientSecret != ""
}

// Validate checks the required keys of an enabled entry.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if u, err := url.Parse(c.MetadataURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, config.Fieldf("metadataUrl", "must be the issuer's discovery URL, e.g. https://idp.example/.well-known/openid-configuration, got %q", c.MetadataURL))
	}
	if c.ClientID == "" {
		errs = append(errs, config.Fieldf("clientId", "is required"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, config.Fieldf("clientSecret", "is required"))
	}
	if c.Scope != "" && !strings.Contains(" "+c.Scope+" ", " openid ") {
		errs = append(errs, config.Fieldf("scope", "must include openid, got %q", c.Scope))
	}
	return errors.Join(errs...)
}

// Environments is auth.providers.oidc: a Config per auth.environment.
type Environments = map[string]Config

// Provider signs people in with an OpenID provider.
type Provider struct {
	cfg Config
	now func() time.Time

	mu       sync.Mutex
	provider *gooidc.Provider // discovered on first use
}

var _ signin.Provider = (*Provider)(nil)

// New returns the provider of cfg; the issuer is discovered on first use, so that an issuer
// down at start-up delays sign-ins, not Stagebus. now is the clock ID tokens are checked
// against (nil: time.Now).
func New(cfg Config, now func() time.Time) *Provider {
	if now == nil {
		now = time.Now
	}
	return &Provider{cfg: cfg, now: now}
}

// ID returns "oidc".
func (p *Provider) ID() string { return ID }

// Resolvers returns signIn.resolvers.
func (p *Provider) Resolvers() []signin.ResolverConfig { return p.cfg.SignIn.Resolvers }

// discover returns the issuer's metadata, fetched once.
func (p *Provider) discover(ctx context.Context) (*gooidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	issuer := strings.TrimSuffix(strings.TrimSuffix(p.cfg.MetadataURL, "/"), wellKnown)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	prov, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("discover the OpenID provider %s: %w", issuer, err)
	}
	p.provider = prov
	return prov, nil
}

func (p *Provider) oauth(prov *gooidc.Provider, callback string) *oauth2.Config {
	scope := p.cfg.Scope
	if scope == "" {
		scope = DefaultScope
	}
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret.Value(), Endpoint: prov.Endpoint(),
		RedirectURL: callback, Scopes: strings.Fields(scope)}
}

// AuthCodeURL is the issuer's authorization endpoint for this sign-in.
func (p *Provider) AuthCodeURL(ctx context.Context, state, nonce, verifier, callback string) (string, error) {
	prov, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if p.cfg.Prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", p.cfg.Prompt))
	}
	return p.oauth(prov, callback).AuthCodeURL(state, opts...), nil
}

// Exchange trades the code (with the PKCE verifier) for tokens and verifies the ID token:
// signature by the issuer's keys, issuer, audience, expiry, and the nonce of this sign-in.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce, callback string) (signin.Result, error) {
	prov, err := p.discover(ctx)
	if err != nil {
		return signin.Result{}, err
	}
	tok, err := p.oauth(prov, callback).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return signin.Result{}, fmt.Errorf("%w: exchange the code: %w", signin.ErrProvider, err)
	}
	idt, claims, err := p.verify(ctx, prov, tok)
	if err != nil {
		return signin.Result{}, err
	}
	if idt.Nonce != nonce {
		return signin.Result{}, fmt.Errorf("%w: the ID token's nonce is not this sign-in's", signin.ErrProvider)
	}
	return result(tok, claims), nil
}

// Refresh gets new tokens with a refresh token and verifies the new ID token.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (signin.Result, error) {
	prov, err := p.discover(ctx)
	if err != nil {
		return signin.Result{}, err
	}
	tok, err := p.oauth(prov, "").TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return signin.Result{}, fmt.Errorf("%w: refresh: %w", signin.ErrProvider, err)
	}
	_, claims, err := p.verify(ctx, prov, tok)
	if err != nil {
		return signin.Result{}, err
	}
	return result(tok, claims), nil
}

// idClaims are the ID token claims the resolvers and the profile use.
type idClaims struct {
	Email             string `json:"email"`
	EmailVerified     *bool  `json:"email_verified"`
	Name              string `json:"name"`
	Picture           string `json:"picture"`
	PreferredUsername string `json:"preferred_username"`
}

func (p *Provider) verify(ctx context.Context, prov *gooidc.Provider, tok *oauth2.Token) (*gooidc.IDToken, idClaims, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, idClaims{}, fmt.Errorf("%w: the token response has no ID token (is openid in scope?)", signin.ErrProvider)
	}
	idt, err := prov.Verifier(&gooidc.Config{ClientID: p.cfg.ClientID, Now: p.now}).Verify(ctx, raw)
	if err != nil {
		return nil, idClaims{}, fmt.Errorf("%w: the ID token: %w", signin.ErrProvider, err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		return nil, idClaims{}, fmt.Errorf("%w: the ID token's claims: %w", signin.ErrProvider, err)
	}
	return idt, c, nil
}

// result is what the resolvers and the frontend get: only an email the issuer says it
// verified (email_verified: true) is used to sign in; without the claim anyone may have set
// the address at some issuers (Entra ID).
func result(tok *oauth2.Token, c idClaims) signin.Result {
	res := signin.Result{
		Profile:      signin.Profile{Email: c.Email, DisplayName: c.Name, Picture: c.Picture},
		Identity:     signin.Identity{Username: c.PreferredUsername},
		ProviderInfo: map[string]any{"accessToken": tok.AccessToken, "idToken": tok.Extra("id_token"), "scope": tok.Extra("scope")},
		RefreshToken: tok.RefreshToken,
	}
	if !tok.Expiry.IsZero() {
		res.ProviderInfo["expiresInSeconds"] = int64(time.Until(tok.Expiry).Seconds())
	}
	if c.EmailVerified != nil && *c.EmailVerified {
		res.Identity.Email = c.Email
	}
	return res
}

// Module provides the OpenID Connect provider when auth.providers.oidc has an enabled entry
// for auth.environment; it needs auth/signin.
var Module = signin.ProviderModule("auth/providers/oidc", ID, func(c Config) signin.Provider {
	if !c.Enabled() {
		return nil
	}
	return New(c, nil)
})
