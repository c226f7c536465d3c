package auth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/stagebus/stagebus/config"
)

// The configuration keys the auth module owns. auth.environment belongs to the foundation
// ([config.EnvironmentPath]).
const (
	AdminsPath             = "auth.admins"
	KeyRotationPath        = "auth.keyRotation"
	TokenExpirationPath    = "auth.backstageTokenExpiration"
	OmitOwnershipClaimPath = "auth.omitIdentityTokenOwnershipClaim"
	GuestProviderPath      = "auth.providers.guest"
	BackendAuthPath        = "backend.auth"
)

// Defaults and bounds of the configuration.
const (
	DefaultKeyRotation     = time.Hour
	DefaultTokenExpiration = time.Hour
	MinTokenExpiration     = 10 * time.Minute
	MaxTokenExpiration     = 24 * time.Hour
	DefaultGuestRef        = "user:development/guest"
	// MinStaticTokenLength is the shortest static external-access token accepted.
	MinStaticTokenLength = 22
	// MinStaticTokenDistinct is the fewest different characters a static token may have.
	// A random token of 22 base64 characters has fewer with a probability below 1e-12 (22 hex
	// characters: about 1e-4); a letter repeated 22 times has one.
	MinStaticTokenDistinct = 8
)

// Admins is auth.admins: the user entity refs (user:default/alice) that may call admin
// routes. Refs are compared case-insensitively, as Backstage compares entity refs.
type Admins []UserRef

// Strings returns the refs as strings.
func (a Admins) Strings() []string {
	out := make([]string, len(a))
	for i, r := range a {
		out[i] = string(r)
	}
	return out
}

// UserRef is a full user entity ref such as user:default/alice.
type UserRef string

// Validate requires a full ref of kind user.
func (r UserRef) Validate() error { return validateUserRef(string(r)) }

// KeyRotation is auth.keyRotation: how long an instance signs with one private key before it
// makes the next (default 1h). It is kept as the duration's canonical text, so that
// `platform config print` shows a duration; [KeyRotation.Duration] returns the value.
type KeyRotation string

// SetDefaults rotates hourly.
func (k *KeyRotation) SetDefaults() { *k = KeyRotation(DefaultKeyRotation.String()) }

// UnmarshalConfig accepts a Go duration, "14d" or a Backstage duration object.
func (k *KeyRotation) UnmarshalConfig(n *config.Node) error {
	d, err := decodeDuration(n)
	if err == nil {
		*k = KeyRotation(d.String())
	}
	return err
}

// Validate accepts 1m to 30d.
func (k KeyRotation) Validate() error {
	if d := k.Duration(); d < time.Minute || d > 30*24*time.Hour {
		return fmt.Errorf("must be between 1m and 30d, got %s", string(k))
	}
	return nil
}

// Duration returns the rotation period.
func (k KeyRotation) Duration() time.Duration { return parseCanonical(string(k)) }

// TokenExpiration is auth.backstageTokenExpiration: the lifetime of user tokens (default 1h).
// As in Backstage, a value outside 10m–24h is clamped into that range (with a warning).
type TokenExpiration string

// SetDefaults makes user tokens last an hour.
func (e *TokenExpiration) SetDefaults() { *e = TokenExpiration(DefaultTokenExpiration.String()) }

// UnmarshalConfig accepts a Go duration, "14d" or a Backstage duration object.
func (e *TokenExpiration) UnmarshalConfig(n *config.Node) error {
	d, err := decodeDuration(n)
	if err == nil {
		*e = TokenExpiration(d.String())
	}
	return err
}

// Validate requires a positive duration; see [ClampTokenExpiration] for the range.
func (e TokenExpiration) Validate() error {
	if e.Duration() <= 0 {
		return fmt.Errorf("must be a positive duration such as 1h, got %s", string(e))
	}
	return nil
}

// Duration returns the configured lifetime, before clamping.
func (e TokenExpiration) Duration() time.Duration { return parseCanonical(string(e)) }

// ClampTokenExpiration returns d within 10m–24h, and whether it had to change it.
func ClampTokenExpiration(d time.Duration) (time.Duration, bool) {
	c := min(max(d, MinTokenExpiration), MaxTokenExpiration)
	return c, c != d
}

// OmitOwnershipClaim is auth.omitIdentityTokenOwnershipClaim: when true, user tokens carry
// no ent claim and clients read ownership from GET /api/auth/v1/userinfo. It is false by
// default, as in Backstage until auth-backend 0.28: plugins of Backstage 1.24's era
// (DefaultIdentityClient, the UserInfoService of backend-app-api 0.6) read ownership from the
// token only, and see none without the claim.
type OmitOwnershipClaim bool

// decodeDuration decodes n with the configuration's duration rules. A problem at the node
// itself is returned as a plain error, so that it is reported at the key's own path.
func decodeDuration(n *config.Node) (time.Duration, error) {
	var d time.Duration
	if err := config.DecodeNode(n, &d); err != nil {
		var ps config.Problems
		if errors.As(err, &ps) && len(ps) == 1 && ps[0].Path == "" {
			return 0, errors.New(ps[0].Message)
		}
		return 0, err
	}
	return d, nil
}

// parseCanonical reads a duration written by time.Duration.String; it is 0 when s is not one,
// which Validate then refuses.
func parseCanonical(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d
}

// GuestProvider is auth.providers.guest: sign-in without credentials for local development.
type GuestProvider struct {
	// UserEntityRef is the identity guests get (default user:development/guest).
	UserEntityRef string `yaml:"userEntityRef"`
	// OwnershipEntityRefs are the guest's ownership refs (default [UserEntityRef]).
	OwnershipEntityRefs []string `yaml:"ownershipEntityRefs"`
	// DangerouslyAllowOutsideDevelopment enables guest sign-in when auth.environment is not
	// development. Anyone who can reach the backend then gets a user token.
	DangerouslyAllowOutsideDevelopment bool `yaml:"dangerouslyAllowOutsideDevelopment"`
}

// SetDefaults signs guests in as user:development/guest.
func (g *GuestProvider) SetDefaults() { g.UserEntityRef = DefaultGuestRef }

// Validate checks the refs.
func (g GuestProvider) Validate() error {
	var errs []error
	if err := validateUserRef(g.UserEntityRef); err != nil {
		errs = append(errs, config.Fieldf("userEntityRef", "%v", err))
	}
	for i, ref := range g.OwnershipEntityRefs {
		if err := validateEntityRef(ref); err != nil {
			errs = append(errs, config.Fieldf(fmt.Sprintf("ownershipEntityRefs[%d]", i), "%v", err))
		}
	}
	return errors.Join(errs...)
}

// Ownership returns the configured ownership refs, or [UserEntityRef].
func (g GuestProvider) Ownership() []string {
	if len(g.OwnershipEntityRefs) == 0 {
		return []string{g.UserEntityRef}
	}
	return append([]string(nil), g.OwnershipEntityRefs...)
}

// BackendAuth is backend.auth.
type BackendAuth struct {
	// ExternalAccess lists the callers that authenticate without a Stagebus-issued token.
	ExternalAccess []ExternalAccess `yaml:"externalAccess"`
	// DangerouslyDisableDefaultAuthPolicy is Backstage's switch to turn default-deny off.
	// Stagebus does not support it: true is a configuration error.
	DangerouslyDisableDefaultAuthPolicy *bool `yaml:"dangerouslyDisableDefaultAuthPolicy"`
}

// Validate refuses dangerouslyDisableDefaultAuthPolicy and duplicate static tokens (each
// entry checks itself).
func (b BackendAuth) Validate() error {
	var errs []error
	if b.DangerouslyDisableDefaultAuthPolicy != nil && *b.DangerouslyDisableDefaultAuthPolicy {
		errs = append(errs, config.Fieldf("dangerouslyDisableDefaultAuthPolicy",
			"is not supported: every Stagebus route needs credentials unless it is registered as unauthenticated; give callers a token with backend.auth.externalAccess instead"))
	}
	seen := map[string]int{}
	for i, e := range b.ExternalAccess {
		if e.Type != ExternalStatic || e.Options.Token == "" {
			continue
		}
		if j, dup := seen[e.Options.Token.Value()]; dup {
			errs = append(errs, config.Fieldf(fmt.Sprintf("externalAccess[%d].options.token", i), "is the same token as externalAccess[%d]; each static token must be unique", j))
			continue
		}
		seen[e.Options.Token.Value()] = i
	}
	return errors.Join(errs...)
}

// The external access types.
const (
	ExternalStatic = "static"
	ExternalJWKS   = "jwks"
)

// ExternalAccess is one backend.auth.externalAccess entry, in Backstage's shape:
//
//	backend:
//	  auth:
//	    externalAccess:
//	      - type: static
//	        options: {token: ${CI_TOKEN}, subject: ci}
//	        accessRestrictions: [{plugin: catalog}, {routePrefix: /api/events/http}]
//	      - type: jwks
//	        options: {url: https://idp.example.com/.well-known/jwks.json, issuer: https://idp.example.com, audience: stagebus, subjectPrefix: idp}
//
// An entry without accessRestrictions has full access, admin routes included, as in
// Backstage.
type ExternalAccess struct {
	// Type is static or jwks.
	Type string `yaml:"type"`
	// Options are the type's settings.
	Options ExternalAccessOptions `yaml:"options"`
	// AccessRestrictions, when present, lists what the caller may call; see
	// [AccessRestriction].
	AccessRestrictions []AccessRestriction `yaml:"accessRestrictions"`
}

// ExternalAccessOptions are the options of both external access types; each type uses its
// own.
type ExternalAccessOptions struct {
	// Token (static) is the shared secret callers send as "Authorization: Bearer <token>":
	// at least 22 characters of which at least 8 different, no whitespace. A weaker token is
	// refused at start-up in production and only warned about in development.
	Token config.Secret `yaml:"token"`
	// Subject (static) names the caller in the service principal and the audit log.
	Subject string `yaml:"subject"`
	// URL (jwks) is where the issuer's JSON Web Key Set is fetched from (https, or http on a
	// loopback address).
	URL string `yaml:"url"`
	// Issuer (jwks), when set, must equal the token's iss claim.
	Issuer string `yaml:"issuer"`
	// Algorithm (jwks), when set, is the only signing algorithm accepted (e.g. RS256); by
	// default each key accepts the algorithm it declares, or its type's usual one.
	Algorithm string `yaml:"algorithm"`
	// Audience (jwks), when set, is one audience or a list; the token's aud must contain one.
	Audience Audiences `yaml:"audience"`
	// SubjectPrefix (jwks) is put between "external:" and the token's sub in the principal.
	SubjectPrefix string `yaml:"subjectPrefix"`
}

// Audiences is a string or a list of strings.
type Audiences = config.OneOrMany[string]

// AccessRestriction limits an external caller to part of the API. Stagebus restricts by
// route, not by Backstage permission: routePrefix is a path prefix matched against the
// registered route's path, segment by segment (/api/catalog admits /api/catalog and
// /api/catalog/entities, not /api/catalogue); plugin: catalog is short for routePrefix:
// /api/catalog. Give exactly one of the two.
type AccessRestriction struct {
	RoutePrefix string `yaml:"routePrefix"`
	Plugin      string `yaml:"plugin"`
}

// Prefix returns the route prefix the restriction admits.
func (r AccessRestriction) Prefix() string {
	if r.Plugin != "" {
		return "/api/" + r.Plugin
	}
	return strings.TrimSuffix(r.RoutePrefix, "/")
}

var (
	pluginIDPattern = regexp.MustCompile(`^[a-z0-9_-]+$`)
	subjectPattern  = regexp.MustCompile(`^[A-Za-z0-9._:@/-]{1,200}$`)
	jwsAlgorithms   = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)

// Validate checks the restriction's shape.
func (r AccessRestriction) Validate() error {
	switch {
	case r.RoutePrefix != "" && r.Plugin != "":
		return errors.New("give either routePrefix or plugin, not both")
	case r.Plugin != "":
		if !pluginIDPattern.MatchString(r.Plugin) {
			return config.Fieldf("plugin", "must be a plugin id of lower-case letters, digits, '-' and '_' such as catalog, got %q", r.Plugin)
		}
	case r.RoutePrefix != "":
		if !strings.HasPrefix(r.RoutePrefix, "/") || strings.ContainsAny(r.RoutePrefix, " {}?#") || strings.Contains(r.RoutePrefix, "//") {
			return config.Fieldf("routePrefix", "must be a path starting with / such as /api/catalog, got %q", r.RoutePrefix)
		}
	default:
		return errors.New("needs routePrefix (e.g. /api/catalog) or plugin (e.g. catalog)")
	}
	return nil
}

// Validate checks the entry for its type.
func (e ExternalAccess) Validate() error {
	var errs []error
	o := e.Options
	unused := func(key, value string) {
		if value != "" {
			errs = append(errs, config.Fieldf("options."+key, "is not an option of type %s", e.Type))
		}
	}
	switch e.Type {
	case ExternalStatic:
		tok := o.Token.Value()
		switch {
		case tok == "":
			errs = append(errs, config.Fieldf("options.token", "is required for type static"))
		case strings.IndexFunc(tok, unicode.IsSpace) >= 0:
			errs = append(errs, config.Fieldf("options.token", "must not contain whitespace"))
		case len(tok) < MinStaticTokenLength:
			errs = append(errs, config.Fieldf("options.token", "is too short: static tokens need at least %d characters (e.g. 32 random bytes in base64)", MinStaticTokenLength))
		}
		if !subjectPattern.MatchString(o.Subject) {
			errs = append(errs, config.Fieldf("options.subject", "is required for type static: a name for the caller such as ci-pipeline (letters, digits, . _ : @ / -)"))
		}
		unused("url", o.URL)
		unused("issuer", o.Issuer)
		unused("algorithm", o.Algorithm)
		unused("subjectPrefix", o.SubjectPrefix)
		if len(o.Audience) > 0 {
			errs = append(errs, config.Fieldf("options.audience", "is not an option of type static"))
		}
	case ExternalJWKS:
		if err := validateJWKSURL(o.URL); err != nil {
			errs = append(errs, config.Fieldf("options.url", "%v", err))
		}
		if o.Algorithm != "" && !slices.Contains(jwsAlgorithms, o.Algorithm) {
			errs = append(errs, config.Fieldf("options.algorithm", "must be one of %s, got %q", strings.Join(jwsAlgorithms, ", "), o.Algorithm))
		}
		if o.SubjectPrefix != "" && !pluginIDPattern.MatchString(o.SubjectPrefix) {
			errs = append(errs, config.Fieldf("options.subjectPrefix", "must be lower-case letters, digits, '-' and '_', got %q", o.SubjectPrefix))
		}
		for i, a := range o.Audience {
			if a == "" {
				errs = append(errs, config.Fieldf(fmt.Sprintf("options.audience[%d]", i), "must not be empty"))
			}
		}
		if o.Token != "" {
			errs = append(errs, config.Fieldf("options.token", "is not an option of type jwks"))
		}
		unused("subject", o.Subject)
	case "legacy":
		errs = append(errs, config.Fieldf("type", "legacy (HS256 shared-secret) tokens are not supported; use static or jwks"))
	case "":
		errs = append(errs, config.Fieldf("type", "is required: static or jwks"))
	default:
		errs = append(errs, config.Fieldf("type", "must be static or jwks, got %q", e.Type))
	}
	if e.AccessRestrictions != nil && len(e.AccessRestrictions) == 0 {
		errs = append(errs, config.Fieldf("accessRestrictions", "must not be empty; leave it out for full access"))
	}
	return errors.Join(errs...)
}

// WeakStaticTokens returns one line for each static token of list that is guessable: fewer
// than [MinStaticTokenDistinct] different characters (tokens shorter than
// [MinStaticTokenLength] are refused by [ExternalAccess.Validate]). Each line names the
// configuration key and the fix; no line contains the token. Production refuses such
// tokens at start-up, development only warns.
func WeakStaticTokens(list []ExternalAccess) []string {
	var out []string
	for i, e := range list {
		if e.Type != ExternalStatic {
			continue
		}
		distinct := map[rune]bool{}
		for _, r := range e.Options.Token.Value() {
			distinct[r] = true
		}
		if len(distinct) >= MinStaticTokenDistinct {
			continue
		}
		out = append(out, fmt.Sprintf("%s.externalAccess[%d].options.token: is weak, it has only %d different characters; a static token needs at least %d characters of which at least %d different: generate one with openssl rand -base64 32",
			BackendAuthPath, i, len(distinct), MinStaticTokenLength, MinStaticTokenDistinct))
	}
	return out
}

// Restrictions returns the route prefixes the entry admits, or nil for full access.
func (e ExternalAccess) Restrictions() []string {
	if e.AccessRestrictions == nil {
		return nil
	}
	out := make([]string, 0, len(e.AccessRestrictions))
	for _, r := range e.AccessRestrictions {
		out = append(out, r.Prefix())
	}
	return out
}

func validateJWKSURL(s string) error {
	if s == "" {
		return errors.New("is required for type jwks: the issuer's JWKS URL")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("must be an absolute https URL, got %q", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
		return fmt.Errorf("must use https (http is accepted only for loopback addresses), got %q", s)
	}
	return fmt.Errorf("must be an absolute https URL, got %q", s)
}

// entityRefPattern is a full entity ref in the characters Backstage's default rules allow
// (kind: letters and digits; namespace and name: letters, digits, '-', '_' and '.'). Tokens
// carry refs, and Backstage's clients rebuild a limited token's payload from the sub claim
// with JSON.stringify, which writes some characters Go's encoder escapes: the pattern keeps
// both encodings the same.
var entityRefPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*:[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$`)

// validateEntityRef accepts a full entity ref kind:namespace/name.
func validateEntityRef(ref string) error {
	if len(ref) > 255 || !entityRefPattern.MatchString(ref) {
		return fmt.Errorf("must be a full entity ref kind:namespace/name such as user:default/alice, got %q", ref)
	}
	return nil
}

// validateUserRef accepts a full entity ref of kind user.
func validateUserRef(ref string) error {
	if err := validateEntityRef(ref); err != nil {
		return err
	}
	if kind, _, _ := strings.Cut(ref, ":"); !strings.EqualFold(kind, "user") {
		return fmt.Errorf("must be a user entity ref such as user:default/alice, got %q", ref)
	}
	return nil
}
