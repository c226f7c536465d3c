package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagebus/stagebus/httpserver"
)

// Token shapes, as Backstage's tooling expects them.
const (
	// TypeUser is the typ header of user tokens.
	TypeUser = "vnd.backstage.user"
	// TypePlugin is the typ header of service tokens between modules and instances.
	TypePlugin = "vnd.backstage.plugin"
	// TypeLimitedUser is the typ header of limited user tokens: {sub, iat, exp} of a user
	// token, whose signature is the user token's uip claim (see LimitedToken).
	TypeLimitedUser = "vnd.backstage.limited-user"
	// UserAudience is the aud claim of user tokens.
	UserAudience = "backstage"
	// Algorithm is the only algorithm Stagebus signs with and accepts for its own tokens.
	Algorithm = "ES256"
	// MaxTokenLength is the longest token accepted, in bytes, as in Backstage.
	MaxTokenLength = 32 * 1024
	// ServiceTokenLifetime is the lifetime of service tokens, and the longest accepted.
	ServiceTokenLifetime = time.Hour
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway = 30 * time.Second
	// maxKIDLength bounds the kid header, which is looked up in the database.
	maxKIDLength = 128
)

// Token is an issued token and when it expires.
type Token struct {
	Token     string
	ExpiresAt time.Time
}

// RefusalError is why a request was refused. Its text is safe to show to the caller and is
// what the audit log records as the reason; it never contains the credentials. It wraps
// httpserver.ErrForbidden (403) when Forbidden is set, else httpserver.ErrUnauthenticated
// (401).
type RefusalError struct {
	Reason    string
	Forbidden bool
}

// Error returns the reason.
func (e *RefusalError) Error() string { return e.Reason }

// Unwrap returns the httpserver sentinel that decides the status.
func (e *RefusalError) Unwrap() error {
	if e.Forbidden {
		return httpserver.ErrForbidden
	}
	return httpserver.ErrUnauthenticated
}

func unauthenticated(reason string) *RefusalError { return &RefusalError{Reason: reason} }

func forbidden(format string, args ...any) *RefusalError {
	return &RefusalError{Reason: fmt.Sprintf(format, args...), Forbidden: true}
}

// The reasons for 401s that do not come from a token's content.
const (
	reasonMissing       = "missing credentials"
	reasonScheme        = "unsupported authorization scheme; send Authorization: Bearer <token>"
	reasonTooLarge      = "token is too large"
	reasonMalformed     = "malformed token"
	reasonType          = "unsupported token type"
	reasonAlgorithm     = "unsupported signing algorithm"
	reasonInvalid       = "invalid token"
	reasonUnverifiable  = "cannot verify the token"
	reasonIssuer        = "token has the wrong issuer"
	reasonSubject       = "token has an invalid subject"
	reasonLifetime      = "token lifetime is too long"
	reasonUnknownIssuer = "token issuer is not configured for external access"
	reasonLimited       = "illegal limited user token: this route needs a full user token"
	reasonSessionEnded  = "the session was logged out: sign in again"
)

// reasonFor maps a verification error to its reason.
func reasonFor(err error) string {
	if envErr := (*keyEnvironmentError)(nil); errors.As(err, &envErr) {
		return envErr.Error()
	}
	switch {
	case errors.Is(err, errUnknownKey):
		return "unknown signing key"
	case errors.Is(err, errKeyExpired):
		return "signing key has expired"
	case errors.Is(err, errAlgorithmMismatch):
		return reasonAlgorithm
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reasonMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid token signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "token has the wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return reasonIssuer
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return reasonUnverifiable
	}
	return reasonInvalid
}

// tokenHeader is the JOSE header, read before anything is verified to pick the verifier.
type tokenHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// parseHeader decodes a compact JWS's header without verifying anything. ok is false when
// the string is not shaped like a JWT at all.
func parseHeader(tok string) (tokenHeader, bool) {
	head, rest, ok := strings.Cut(tok, ".")
	if !ok || strings.Count(rest, ".") != 1 || len(head) > 4096 {
		return tokenHeader{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return tokenHeader{}, false
	}
	var h tokenHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return tokenHeader{}, false
	}
	return h, true
}

// claims are the claims Stagebus reads from its own tokens.
type claims struct {
	jwt.RegisteredClaims
	Ent []string `json:"ent,omitempty"`
}

// ModuleOf returns the module (Backstage's plugin id) that serves a route path: the segment
// after /api/ (catalog for /api/catalog/entities), or "" outside /api/. Service tokens are
// issued for, and accepted by, one module.
func ModuleOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/api/")
	if !ok {
		return ""
	}
	m, _, _ := strings.Cut(rest, "/")
	return m
}

// IssueUserToken signs a user token for id (ownership defaults to the user itself) and
// records the ownership for userinfo. The issue is audited.
func (s *Service) IssueUserToken(ctx context.Context, id UserInfo) (Token, error) {
	return s.issueUserToken(ctx, id, nil, "")
}

// SignIn issues the user token of a person who signed in through provider during r, and
// audits the sign-in (sign-in, succeeded) and the token's issue.
func (s *Service) SignIn(ctx context.Context, r *http.Request, provider string, id UserInfo) (Token, error) {
	tok, err := s.issueUserToken(ctx, id, r, provider)
	if err != nil {
		return Token{}, err
	}
	s.audit(ctx, r, AuditRecord{EventID: EventSignIn, SeverityLevel: SeverityMedium, Status: StatusSucceeded,
		Actor: AuditActor{ActorID: id.UserEntityRef}, Meta: map[string]any{"provider": provider, "ownershipEntityRefs": id.OwnershipEntityRefs}})
	return tok, nil
}

// Audit records an audit event about r (nil for none), adding the request's facts (URL,
// method, client address, user agent).
func (s *Service) Audit(ctx context.Context, r *http.Request, rec AuditRecord) {
	s.audit(ctx, r, rec)
}

func (s *Service) issueUserToken(ctx context.Context, id UserInfo, r *http.Request, provider string) (Token, error) {
	if err := validateUserRef(id.UserEntityRef); err != nil {
		return Token{}, fmt.Errorf("issue user token: %w", err)
	}
	if len(id.OwnershipEntityRefs) == 0 {
		id.OwnershipEntityRefs = []string{id.UserEntityRef}
	}
	for _, ref := range id.OwnershipEntityRefs {
		if err := validateEntityRef(ref); err != nil {
			return Token{}, fmt.Errorf("issue user token: ownership: %w", err)
		}
	}
	if err := s.store.SetUserInfo(ctx, id); err != nil {
		return Token{}, fmt.Errorf("issue user token: %w", err)
	}
	key, err := s.keys.signer(ctx)
	if err != nil {
		return Token{}, fmt.Errorf("issue user token: %w", err)
	}
	now := s.now().Truncate(time.Second)
	exp := now.Add(s.tokenExpiration)
	uip, err := identityProof(key, id.UserEntityRef, now.Unix(), exp.Unix())
	if err != nil {
		return Token{}, fmt.Errorf("issue user token: %w", err)
	}
	c := jwt.MapClaims{"iss": s.issuer, "sub": id.UserEntityRef, "aud": UserAudience, "iat": now.Unix(), "exp": exp.Unix(), "uip": uip}
	if s.includeOwnership {
		c["ent"] = id.OwnershipEntityRefs
	}
	tok, err := sign(key, TypeUser, c)
	if err != nil {
		return Token{}, fmt.Errorf("issue user token: %w", err)
	}
	meta := map[string]any{"tokenType": "user", "subject": id.UserEntityRef, "audience": UserAudience, "kid": key.kid, "expiresAt": exp.UTC().Format(time.RFC3339)}
	if provider != "" {
		meta["provider"] = provider
	}
	s.audit(ctx, r, AuditRecord{EventID: EventTokenIssue, SeverityLevel: SeverityMedium, Status: StatusSucceeded,
		Actor: AuditActor{ActorID: id.UserEntityRef}, Meta: meta})
	return Token{Token: tok, ExpiresAt: exp}, nil
}

// IssueServiceToken signs a service token with which the module caller calls the module
// target (on this instance or another sharing the database); it lasts ServiceTokenLifetime.
// Both are module ids such as catalog. The issue is audited.
func (s *Service) IssueServiceToken(ctx context.Context, caller, target string) (Token, error) {
	if !pluginIDPattern.MatchString(caller) || !pluginIDPattern.MatchString(target) {
		return Token{}, fmt.Errorf("issue service token: caller and target must be module ids such as catalog, got %q and %q", caller, target)
	}
	key, err := s.keys.signer(ctx)
	if err != nil {
		return Token{}, fmt.Errorf("issue service token: %w", err)
	}
	now := s.now().Truncate(time.Second)
	exp := now.Add(ServiceTokenLifetime)
	tok, err := sign(key, TypePlugin, jwt.MapClaims{"sub": caller, "aud": target, "iat": now.Unix(), "exp": exp.Unix()})
	if err != nil {
		return Token{}, fmt.Errorf("issue service token: %w", err)
	}
	s.audit(ctx, nil, AuditRecord{EventID: EventTokenIssue, SeverityLevel: SeverityLow, Status: StatusSucceeded,
		Actor: AuditActor{ActorID: "plugin:" + caller},
		Meta:  map[string]any{"tokenType": "service", "subject": caller, "audience": target, "kid": key.kid, "expiresAt": exp.UTC().Format(time.RFC3339)}})
	return Token{Token: tok, ExpiresAt: exp}, nil
}

// limitedParts are the header and payload of the limited user token of a user token, encoded
// as Backstage's clients rebuild them (JSON.stringify: these keys in this order, no spaces),
// so that the user token's uip is a valid signature of what they rebuild.
func limitedParts(kid, sub string, iat, exp int64) (string, error) {
	encode := func(v any) (string, error) {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString([]byte(strings.TrimSuffix(b.String(), "\n"))), nil
	}
	header, err := encode(struct {
		Typ string `json:"typ"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{TypeLimitedUser, Algorithm, kid})
	if err != nil {
		return "", err
	}
	payload, err := encode(struct {
		Sub string `json:"sub"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}{sub, iat, exp})
	return header + "." + payload, err
}

// sessionKey identifies a sign-in by what a user token and its limited token share and sign:
// the user, iat and exp. A logout remembers it, so that no copy of either token opens
// anything more, however it is encoded or sent.
func sessionKey(sub string, iat, exp int64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", sub, iat, exp))
	return hex.EncodeToString(sum[:])
}

// identityProof is a user token's uip claim: the signature of its limited user token.
func identityProof(key *signingKey, sub string, iat, exp int64) (string, error) {
	input, err := limitedParts(key.kid, sub, iat, exp)
	if err != nil {
		return "", err
	}
	sig, err := jwt.SigningMethodES256.Sign(input, key.priv)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

func sign(key *signingKey, typ string, c jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["typ"] = typ
	t.Header["kid"] = key.kid
	return t.SignedString(key.priv)
}

// verifyOwn verifies a user, limited user or service token signed by an instance sharing the
// store. A limited user token is accepted on UserCookie routes only.
func (s *Service) verifyOwn(ctx context.Context, tok string, h tokenHeader, route httpserver.Route) (credentials, *RefusalError) {
	if h.Alg != Algorithm {
		return credentials{}, unauthenticated(reasonAlgorithm)
	}
	if h.Kid == "" || len(h.Kid) > maxKIDLength {
		return credentials{}, unauthenticated(reasonFor(errUnknownKey))
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	switch h.Typ {
	case TypeUser:
		opts = append(opts, jwt.WithAudience(UserAudience), jwt.WithIssuer(s.issuer))
	case TypeLimitedUser: // {sub, iat, exp}: no audience, no issuer
	default:
		target := ModuleOf(route.Path)
		if target == "" {
			return credentials{}, unauthenticated(reasonFor(jwt.ErrTokenInvalidAudience))
		}
		opts = append(opts, jwt.WithAudience(target))
	}
	var c claims
	_, err := jwt.NewParser(opts...).ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) {
		key, err := s.keys.verificationKey(ctx, h.Kid)
		var envErr *keyEnvironmentError
		if err != nil && !errors.Is(err, errUnknownKey) && !errors.Is(err, errKeyExpired) && !errors.As(err, &envErr) {
			s.log.Error().Err(err).Msg("cannot read public keys to verify a token")
		}
		return key, err
	})
	if err != nil {
		return credentials{}, unauthenticated(reasonFor(err))
	}
	exp := c.ExpiresAt.Time
	if c.IssuedAt == nil {
		return credentials{}, unauthenticated(reasonFor(jwt.ErrTokenRequiredClaimMissing))
	}
	switch h.Typ {
	case TypeUser, TypeLimitedUser:
		if validateEntityRef(c.Subject) != nil {
			return credentials{}, unauthenticated(reasonSubject)
		}
		cred := credentials{principal: httpserver.Principal{Type: httpserver.PrincipalUser, Subject: c.Subject}, expiresAt: exp, kind: "user",
			session: sessionKey(c.Subject, c.IssuedAt.Unix(), exp.Unix())}
		if h.Typ == TypeLimitedUser {
			if route.Auth != httpserver.UserCookie {
				return credentials{}, unauthenticated(reasonLimited)
			}
			cred.kind = "limited-user"
		}
		return cred, nil
	}
	if !pluginIDPattern.MatchString(c.Subject) {
		return credentials{}, unauthenticated(reasonSubject)
	}
	if exp.Sub(c.IssuedAt.Time) > ServiceTokenLifetime+Leeway {
		return credentials{}, unauthenticated(reasonLifetime)
	}
	return credentials{principal: httpserver.Principal{Type: httpserver.PrincipalService, Subject: "plugin:" + c.Subject}, expiresAt: exp, kind: "service"}, nil
}
