package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

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

// newExternalEntries prepares the entries; the JWKS of jwks entries are fetched on ctx
// (the service's own) by goroutines counted in wg.
func newExternalEntries(ctx context.Context, wg *sync.WaitGroup, list []ExternalAccess, client *http.Client, cooldown time.Duration, log zerolog.Logger) []*externalEntry {
	out := make([]*externalEntry, 0, len(list))
	for i, e := range list {
		x := &externalEntry{label: fmt.Sprintf("externalAccess[%d]", i), typ: e.Type, restrictions: e.Restrictions()}
		switch e.Type {
		case ExternalStatic:
			x.tokenHash = sha256.Sum256([]byte(e.Options.Token.Value()))
			x.subject = e.Options.Subject
		case ExternalJWKS:
			x.keys = newRemoteKeySet(ctx, wg, e.Options.URL, client, cooldown, log.With().Str("jwks", x.label).Logger())
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

// External issuers' JWKS are fetched and cached by keyfunc/jwkset: first when the service
// starts (or on first use when it is not started), again every jwksRefreshInterval in the
// background, and for a kid the set does not have at most once per cooldown (30s), so that
// tokens with made-up kids cannot make Stagebus hammer the issuer. Every fetch runs on the
// service's own context with jwksFetchTimeout, never on a request's: a request that goes
// away while a fetch runs abandons only its wait, and the fetch still fills the cache.
const (
	jwksRefreshInterval = 10 * time.Minute
	jwksCooldown        = 30 * time.Second
	jwksFetchTimeout    = 10 * time.Second
	jwksMaxBytes        = 1 << 20
)

// remoteKeySet is an external issuer's JWKS.
type remoteKeySet struct {
	url    string
	client *http.Client
	log    zerolog.Logger
	// ctx is the service's own context, cancelled by Stop; wg counts the goroutines that
	// fetch on it.
	ctx context.Context
	wg  *sync.WaitGroup

	once    sync.Once
	ready   chan struct{} // closed when storage is set
	storage jwkset.Storage
	limiter *rate.Limiter // unknown-kid refreshes; jwkset takes a token for each

	mu       sync.Mutex    // guards inflight only; never held while fetching
	inflight chan struct{} // closed when the unknown-kid refresh under way ends
}

func newRemoteKeySet(ctx context.Context, wg *sync.WaitGroup, url string, client *http.Client, cooldown time.Duration, log zerolog.Logger) *remoteKeySet {
	// The body limit applies to every fetch, jwkset's included.
	limited := *client
	limited.Transport = maxBodyTransport{base: client.Transport, limit: jwksMaxBytes}
	return &remoteKeySet{
		url: url, client: &limited, log: log, ctx: ctx, wg: wg,
		ready:   make(chan struct{}),
		limiter: rate.NewLimiter(rate.Every(cooldown), 1),
	}
}

// start begins the first fetch on a goroutine of its own (once); the returned channel is
// closed when the key set can be read.
func (r *remoteKeySet) start() <-chan struct{} {
	r.once.Do(func() {
		r.wg.Go(func() {
			noError := true
			kf, err := keyfunc.NewDefaultOverrideCtx(r.ctx, []string{r.url}, keyfunc.Override{
				Client:                    r.client,
				HTTPTimeout:               jwksFetchTimeout,
				NoErrorReturnFirstHTTPReq: &noError, // an issuer that is down at start-up is retried later
				RefreshInterval:           jwksRefreshInterval,
				RefreshUnknownKID:         r.limiter,
				RateLimitWaitMax:          jwksFetchTimeout, // bounds the refresh of an unknown kid too
				RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
					return func(_ context.Context, err error) {
						if r.ctx.Err() == nil { // not stopping
							r.log.Warn().Err(err).Str("url", u).Msg("cannot fetch the external issuer's JWKS")
						}
					}
				},
			})
			if err != nil { // only for a URL that config validation lets through and jwkset refuses
				r.log.Error().Err(err).Str("url", r.url).Msg("cannot set up the external issuer's JWKS")
				r.storage = jwkset.NewMemoryStorage()
			} else {
				r.storage = kf.Storage()
			}
			close(r.ready)
		})
	})
	return r.ready
}

// lookup returns the key (or keys, when the token names no kid) that can verify a token with
// the kid and algorithm. pinned, when set, is the only algorithm accepted; otherwise each key
// accepts its own declared (or usual) algorithm. A kid the set lacks refreshes it once per
// cooldown; concurrent lookups share that refresh. ctx only bounds how long the caller waits.
func (r *remoteKeySet) lookup(ctx context.Context, kid, alg, pinned string) (any, error) {
	select {
	case <-r.start():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	key, listed, err := r.match(kid, alg, pinned)
	if listed || kid == "" {
		return key, err
	}
	r.mu.Lock()
	done := r.inflight
	if done == nil {
		if r.limiter.Tokens() < 1 { // cooling down: refuse at once rather than queue
			r.mu.Unlock()
			return nil, errUnknownKey
		}
		done = make(chan struct{})
		r.inflight = done
		r.wg.Go(func() { r.refresh(kid, done) })
	}
	r.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	key, _, err = r.match(kid, alg, pinned)
	return key, err
}

// refresh has jwkset fetch the set again for kid, on the service's context.
func (r *remoteKeySet) refresh(kid string, done chan struct{}) {
	defer func() {
		r.mu.Lock()
		r.inflight = nil
		r.mu.Unlock()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(r.ctx, jwksFetchTimeout)
	defer cancel()
	// jwkset reads the kid, and for an unknown one takes a limiter token and refetches.
	if _, err := r.storage.KeyRead(ctx, kid); err != nil && !errors.Is(err, jwkset.ErrKeyNotFound) {
		r.log.Warn().Err(err).Str("url", r.url).Msg("cannot refresh the external issuer's JWKS")
	}
}

// match picks the cached keys for the kid (all keys when kid is "") that verify alg. It
// fails with errUnknownKey when no signing key has the kid, errAlgorithmMismatch when one
// has but not for alg. listed reports whether the set has the kid at all (a key for
// another use, say), in which case fetching it again would not help.
func (r *remoteKeySet) match(kid, alg, pinned string) (key any, listed bool, err error) {
	all, err := r.storage.KeyReadAll(r.ctx)
	if err != nil {
		return nil, false, err
	}
	var match []crypto.PublicKey
	kidSeen := false
	for _, j := range all {
		if kid != "" && j.Marshal().KID != kid {
			continue
		}
		listed = true
		pub, declared, ok := verifierOf(j)
		if !ok {
			continue
		}
		kidSeen = true
		want := declared
		if pinned != "" {
			want = pinned
		}
		if want == alg && keyFitsAlgorithm(pub, alg) {
			match = append(match, pub)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], listed, nil
	case len(match) > 1:
		ks := jwt.VerificationKeySet{}
		for _, k := range match {
			ks.Keys = append(ks.Keys, k)
		}
		return ks, listed, nil
	case kidSeen:
		return nil, listed, errAlgorithmMismatch
	}
	return nil, listed, errUnknownKey
}

// verifierOf returns a JWKS entry's public key and the algorithm it is used with (the one it
// declares, else its type's usual one: ES256/384/512 by curve, RS256, EdDSA). ok is false for
// keys that cannot verify Stagebus's tokens: other uses than sig, RSA moduli under 2048 bits,
// types other than EC, RSA and Ed25519.
func verifierOf(j jwkset.JWK) (pub crypto.PublicKey, alg string, ok bool) {
	m := j.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, "", false
	}
	key := j.Key()
	if p, isPrivate := key.(interface{ Public() crypto.PublicKey }); isPrivate {
		key = p.Public()
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		for _, c := range ecCurves {
			if c.curve == k.Curve {
				pub, alg = k, c.alg
			}
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= minRSABits && k.E >= 3 && k.E%2 == 1 {
			pub, alg = k, "RS256"
		}
	case ed25519.PublicKey:
		pub, alg = k, "EdDSA"
	}
	if pub == nil {
		return nil, "", false
	}
	if m.ALG != "" {
		alg = string(m.ALG)
	}
	return pub, alg, true
}

// maxBodyTransport fails the reading of a response body past limit bytes, so that an issuer
// cannot make Stagebus buffer an unbounded JWKS.
type maxBodyTransport struct {
	base  http.RoundTripper
	limit int64
}

// RoundTrip implements http.RoundTripper.
func (t maxBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err == nil {
		resp.Body = http.MaxBytesReader(nil, resp.Body, t.limit)
	}
	return resp, err
}
