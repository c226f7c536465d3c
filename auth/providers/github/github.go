// Package github is the GitHub sign-in provider (auth.providers.github): OAuth on github.com
// or a GitHub Enterprise Server (enterpriseInstanceUrl), scope read:user, the user read from
// the API with the token (golang.org/x/oauth2).
package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/stagebus/stagebus/auth/signin"
	"github.com/stagebus/stagebus/config"
)

// ID is the provider's key in auth.providers and its routes' segment.
const ID = "github"

// Scope is what a sign-in asks GitHub for: the profile, nothing of the repositories.
const Scope = "read:user"

// Config is auth.providers.github.<environment>, Backstage's keys.
type Config struct {
	ClientID     string        `yaml:"clientId"`
	ClientSecret config.Secret `yaml:"clientSecret"`
	// EnterpriseInstanceURL is a GitHub Enterprise Server (https://ghe.example); empty for
	// github.com.
	EnterpriseInstanceURL string              `yaml:"enterpriseInstanceUrl"`
	SignIn                signin.SignInConfig `yaml:"signIn"`
}

// Enabled reports whether the entry is set: one whose clientId and clientSecret are both
// empty is off, so that a deployment's file can leave them to environment variables it may
// not set (as docker-compose.yml does).
func (c Config) Enabled() bool { return c.ClientID != "" || c.ClientSecret != "" }

// Validate checks the required keys of an enabled entry.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if c.ClientID == "" {
		errs = append(errs, config.Fieldf("clientId", "is required: the client id of the GitHub OAuth app"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, config.Fieldf("clientSecret", "is required: the client secret of the GitHub OAuth app"))
	}
	if c.EnterpriseInstanceURL != "" {
		if u, err := url.Parse(c.EnterpriseInstanceURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, config.Fieldf("enterpriseInstanceUrl", "must be the URL of a GitHub Enterprise Server, e.g. https://ghe.example, got %q", c.EnterpriseInstanceURL))
		}
	}
	return errors.Join(errs...)
}

// Environments is auth.providers.github: a Config per auth.environment.
type Environments = map[string]Config

// Provider signs people in with GitHub.
type Provider struct {
	cfg      Config
	endpoint oauth2.Endpoint
	api      string
	http     *http.Client
}

var _ signin.Provider = (*Provider)(nil)

// New returns the provider of cfg.
func New(cfg Config) *Provider {
	web, api := "https://github.com", "https://api.github.com"
	if cfg.EnterpriseInstanceURL != "" {
		web = strings.TrimSuffix(cfg.EnterpriseInstanceURL, "/")
		api = web + "/api/v3"
	}
	return &Provider{cfg: cfg, api: api, http: &http.Client{Timeout: 30 * time.Second}, endpoint: oauth2.Endpoint{
		AuthURL: web + "/login/oauth/authorize", TokenURL: web + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams,
	}}
}

// ID returns "github".
func (p *Provider) ID() string { return ID }

// Resolvers returns signIn.resolvers.
func (p *Provider) Resolvers() []signin.ResolverConfig { return p.cfg.SignIn.Resolvers }

func (p *Provider) oauth(callback string) *oauth2.Config {
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret.Value(), Endpoint: p.endpoint, RedirectURL: callback, Scopes: []string{Scope}}
}

// AuthCodeURL is GitHub's authorization page for this sign-in (with PKCE; GitHub has no
// OpenID nonce: state binds the sign-in).
func (p *Provider) AuthCodeURL(_ context.Context, state, _, verifier, callback string) (string, error) {
	return p.oauth(callback).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange trades the code for a token and reads the user with it.
func (p *Provider) Exchange(ctx context.Context, code, verifier, _, callback string) (signin.Result, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.http)
	tok, err := p.oauth(callback).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return signin.Result{}, fmt.Errorf("%w: exchange the code: %w", signin.ErrProvider, err)
	}
	return p.user(ctx, tok)
}

// Refresh signs in again with what the refresh cookie keeps: a refresh token of a GitHub App
// with expiring tokens, else the access token of an OAuth app (which does not expire until
// revoked), checked by reading the user with it.
func (p *Provider) Refresh(ctx context.Context, kept string) (signin.Result, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.http)
	tok := &oauth2.Token{AccessToken: kept}
	if strings.HasPrefix(kept, "ghr_") {
		var err error
		if tok, err = p.oauth("").TokenSource(ctx, &oauth2.Token{RefreshToken: kept}).Token(); err != nil {
			return signin.Result{}, fmt.Errorf("%w: refresh: %w", signin.ErrProvider, err)
		}
	}
	return p.user(ctx, tok)
}

// user reads GET /user with the token.
func (p *Provider) user(ctx context.Context, tok *oauth2.Token) (signin.Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.api+"/user", nil)
	if err != nil {
		return signin.Result{}, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := p.http.Do(req)
	if err != nil {
		return signin.Result{}, fmt.Errorf("%w: read the user: %w", signin.ErrProvider, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return signin.Result{}, fmt.Errorf("%w: read the user: GitHub answered %d", signin.ErrProvider, resp.StatusCode)
	}
	var u struct {
		ID        int64  `json:"id"`
		Login     string `json:"login"`
		Name      string `json:"name"`
		Email     string `json:"email"`
		AvatarURL string `json:"avatar_url"`
	}
	if err := json.Unmarshal(body, &u); err != nil || u.Login == "" {
		return signin.Result{}, fmt.Errorf("%w: read the user: an answer without a login", signin.ErrProvider)
	}
	kept := tok.RefreshToken
	if kept == "" {
		kept = tok.AccessToken
	}
	info := map[string]any{"accessToken": tok.AccessToken, "scope": Scope}
	if !tok.Expiry.IsZero() {
		info["expiresInSeconds"] = int64(time.Until(tok.Expiry).Seconds())
	}
	// GitHub shows only a verified address as a profile's public email.
	return signin.Result{
		Profile:      signin.Profile{Email: u.Email, DisplayName: u.Name, Picture: u.AvatarURL},
		Identity:     signin.Identity{Username: u.Login, UserID: userID(u.ID), Email: u.Email},
		ProviderInfo: info,
		RefreshToken: kept,
	}, nil
}

// userID is an account id as the resolvers match it; "" when GitHub gave none.
func userID(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// Module provides the GitHub provider when auth.providers.github has an enabled entry for
// auth.environment; it needs auth/signin.
var Module = signin.ProviderModule("auth/providers/github", ID, func(c Config) signin.Provider {
	if !c.Enabled() {
		return nil
	}
	return New(c)
})
