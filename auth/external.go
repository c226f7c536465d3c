package auth

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/httpserver"
)

// externalEntry is one backend.auth.externalAccess entry, prepared for verification.
type externalEntry struct {
	label        string // externalAccess[i], for the audit log
	typ          string
	restrictions []string

	// static
	tokenHash [sha256.Size]byte
	subject   string

	// jwks
	keys          *remoteKeySet
	issuer        string
	algorithm     string
	audiences     []string
	subjectPrefix string
}

func newExternalEntries(list []ExternalAccess, client *http.Client, now func() time.Time, log zerolog.Logger) []*externalEntry {
	out := make([]*externalEntry, 0, len(list))
	for i, e := range list {
		x := &externalEntry{label: fmt.Sprintf("externalAccess[%d]", i), typ: e.Type, restrictions: e.Restrictions()}
		switch e.Type {
		case ExternalStatic:
			x.tokenHash = sha256.Sum256([]byte(e.Options.Token.Value()))
			x.subject = e.Options.Subject
		case ExternalJWKS:
			x.keys = &remoteKeySet{url: e.Options.URL, client: client, now: now, log: log.With().Str("jwks", x.label).Logger()}
			x.issuer, x.algorithm, x.audiences, x.subjectPrefix = e.Options.Issuer, e.Options.Algorithm, e.Options.Audience, e.Options.SubjectPrefix
		}
		out = append(out, x)
	}
	return out
}

// matchStatic returns the static entry whose token is tok, comparing digests in constant
// time against every entry.
func (s *Service) matchStatic(tok string) *externalEntry {
	h := sha256.Sum256([]byte(tok))
	var found *externalEntry
	for _, e := range s.external {
		if e.typ == ExternalStatic && subtle.ConstantTimeCompare(h[:], e.tokenHash[:]) == 1 && found == nil {
			found = e
		}
	}
	return found
}

// verifyJWKS verifies a token from an external issuer: the entries whose issuer matches the
// token's (or that name none) are tried in order.
func (s *Service) verifyJWKS(ctx context.Context, tok string, h tokenHeader) (credentials, *RefusalError) {
	var unverified jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &unverified); err != nil {
		return credentials{}, unauthenticated(reasonMalformed)
	}
	refusal := unauthenticated(reasonType)
	tried := false
	for _, e := range s.external {
		if e.typ != ExternalJWKS || (e.issuer != "" && e.issuer != unverified.Issuer) {
			continue
		}
		tried = true
		c, r := s.verifyWith(ctx, e, tok, h)
		if r == nil {
			return c, nil
		}
		refusal = r
	}
	if !tried {
		return credentials{}, unauthenticated(reasonUnknownIssuer)
	}
	return credentials{}, refusal
}

// asymmetric are the algorithms accepted from external issuers; never none or HMAC.
var asymmetric = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}

func (s *Service) verifyWith(ctx context.Context, e *externalEntry, tok string, h tokenHeader) (credentials, *RefusalError) {
	methods := asymmetric
	if e.algorithm != "" {
		methods = []string{e.algorithm}
	}
	if len(h.Kid) > maxKIDLength {
		return credentials{}, unauthenticated(reasonFor(errUnknownKey))
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
	}
	if e.issuer != "" {
		opts = append(opts, jwt.WithIssuer(e.issuer))
	}
	if len(e.audiences) > 0 {
		opts = append(opts, jwt.WithAudience(e.audiences...))
	}
	var c jwt.RegisteredClaims
	_, err := jwt.NewParser(opts...).ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		return e.keys.lookup(ctx, h.Kid, t.Method.Alg(), e.algorithm)
	})
	if err != nil {
		if !slices.Contains(methods, h.Alg) {
			return credentials{}, unauthenticated(reasonAlgorithm)
		}
		return credentials{}, unauthenticated(reasonFor(err))
	}
	if c.Subject == "" || len(c.Subject) > 255 || strings.ContainsAny(c.Subject, " \t\r\n") {
		return credentials{}, unauthenticated(reasonSubject)
	}
	subject := "external:" + c.Subject
	if e.subjectPrefix != "" {
		subject = "external:" + e.subjectPrefix + ":" + c.Subject
	}
	return credentials{
		principal:    httpserver.Principal{Type: httpserver.PrincipalService, Subject: subject},
		restrictions: e.restrictions, source: e.label, sourceType: ExternalJWKS, kind: "external", expiresAt: c.ExpiresAt.Time,
	}, nil
}

// JWKS fetching: keys are fetched lazily, kept at most jwksMaxAge, and fetched again for an
// unknown kid at most once per jwksCooldown, so that tokens with made-up kids cannot make
// Stagebus hammer the issuer.
const (
	jwksMaxAge   = 10 * time.Minute
	jwksCooldown = 30 * time.Second
	jwksMaxBytes = 1 << 20
)

type remoteKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// remoteKeySet is an external issuer's JWKS, cached.
type remoteKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time
	log    zerolog.Logger

	mu        sync.Mutex
	keys      []remoteKey
	fetched   time.Time
	attempted time.Time
}

// lookup returns the key (or keys, when the token names no kid) that can verify a token with
// the kid and algorithm. pinned, when set, is the only algorithm accepted; otherwise each key
// accepts its own declared (or usual) algorithm.
func (r *remoteKeySet) lookup(ctx context.Context, kid, alg, pinned string) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	stale := r.fetched.IsZero() || now.Sub(r.fetched) >= jwksMaxAge
	if (stale || !r.hasLocked(kid)) && (r.attempted.IsZero() || now.Sub(r.attempted) >= jwksCooldown) {
		r.attempted = now
		if err := r.fetchLocked(ctx); err != nil {
			r.log.Warn().Err(err).Str("url", r.url).Msg("cannot fetch the external issuer's JWKS")
		} else {
			r.fetched = now
		}
	}
	var match []crypto.PublicKey
	kidSeen := false
	for _, k := range r.keys {
		if kid != "" && k.kid != kid {
			continue
		}
		kidSeen = true
		want := k.alg
		if pinned != "" {
			want = pinned
		}
		if want == alg && keyFitsAlgorithm(k.key, alg) {
			match = append(match, k.key)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) > 1:
		ks := jwt.VerificationKeySet{}
		for _, k := range match {
			ks.Keys = append(ks.Keys, k)
		}
		return ks, nil
	case kidSeen:
		return nil, errAlgorithmMismatch
	}
	return nil, errUnknownKey
}

func (r *remoteKeySet) hasLocked(kid string) bool {
	for _, k := range r.keys {
		if k.kid == kid || kid == "" {
			return true
		}
	}
	return false
}

// fetchLocked replaces the cached keys with the issuer's current set. Keys that cannot be
// used (unsupported types, weak RSA, encryption keys) are skipped.
func (r *remoteKeySet) fetchLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	var set JWKS
	if err := json.NewDecoder(io.LimitReader(resp.Body, jwksMaxBytes)).Decode(&set); err != nil {
		return fmt.Errorf("fetch JWKS: decode: %w", err)
	}
	keys := make([]remoteKey, 0, len(set.Keys))
	for _, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		pub, err := j.PublicKey()
		if err != nil {
			r.log.Debug().Err(err).Msg("skipping an unusable JWKS key")
			continue
		}
		keys = append(keys, remoteKey{kid: j.Kid, alg: j.DefaultAlgorithm(), key: pub})
	}
	if len(keys) == 0 {
		return errors.New("fetch JWKS: no usable signing keys")
	}
	r.keys = keys
	return nil
}
