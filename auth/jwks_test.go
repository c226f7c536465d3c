package auth_test

import (
	"context"
	"crypto/ecdsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver"
)

// rotatingIssuer is an identity provider whose JWKS (an httptest server) the test rotates,
// and whose answers it can hold back.
type rotatingIssuer struct {
	t       *testing.T
	srv     *httptest.Server
	fetches atomic.Int32

	mu       sync.Mutex
	keys     map[string]*ecdsa.PrivateKey
	serving  []string      // the kids the JWKS lists now
	gate     chan struct{} // when set, fetches wait until it is closed
	fetching chan struct{} // receives a value when a fetch waits at the gate
}

func newRotatingIssuer(t *testing.T, kids ...string) *rotatingIssuer {
	t.Helper()
	is := &rotatingIssuer{t: t, keys: map[string]*ecdsa.PrivateKey{}, fetching: make(chan struct{}, 16)}
	is.serve(kids...)
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		gate := is.gate
		set := auth.JWKS{Keys: []auth.JWK{}}
		for _, kid := range is.serving {
			set.Keys = append(set.Keys, jwkOf(t, kid, &is.keys[kid].PublicKey))
		}
		is.mu.Unlock()
		if gate != nil {
			is.fetching <- struct{}{}
			<-gate
		}
		httpserver.WriteJSON(w, http.StatusOK, set)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// serve makes the JWKS list exactly kids, generating the keys it has not seen.
func (is *rotatingIssuer) serve(kids ...string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, kid := range kids {
		if is.keys[kid] == nil {
			is.keys[kid] = newForger(is.t).priv
		}
	}
	is.serving = kids
}

// hold makes the next fetches wait until the returned function is called (at the latest
// when the test ends, before the server closes).
func (is *rotatingIssuer) hold() (release func()) {
	gate := make(chan struct{})
	is.mu.Lock()
	is.gate = gate
	is.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			is.mu.Lock()
			is.gate = nil
			is.mu.Unlock()
			close(gate)
		})
	}
	is.t.Cleanup(release)
	return release
}

// token is a valid ES256 token of the issuer signed with the kid's key.
func (is *rotatingIssuer) token(kid string, now time.Time) string {
	is.t.Helper()
	is.mu.Lock()
	key := is.keys[kid]
	is.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://idp.example", "sub": "build-bot", "aud": "stagebus", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	require.NoError(is.t, err)
	return s
}

func (is *rotatingIssuer) access() []auth.ExternalAccess {
	return []auth.ExternalAccess{{Type: auth.ExternalJWKS, Options: auth.ExternalAccessOptions{
		URL: is.srv.URL, Issuer: "https://idp.example", Audience: auth.Audiences{"stagebus"}, Algorithm: "ES256",
	}}}
}

// TestJWKSRefreshOutlivesCancelledRequest: a request that goes away while its unknown kid
// makes Stagebus refetch the JWKS does not cancel the fetch nor leave the cache cooling
// down: the next request with that kid is verified from what the fetch brought.
func TestJWKSRefreshOutlivesCancelledRequest(t *testing.T) {
	t.Parallel()
	is := newRotatingIssuer(t, "k1")
	f := newFixture(t, func(o *auth.Options) { o.ExternalAccess, o.HTTPClient = is.access(), is.srv.Client() })
	now := f.clock.Now()
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", is.token("k1", now)).code)
	require.EqualValues(t, 1, is.fetches.Load())

	f.clock.Advance(time.Minute) // the refetch below is due, whichever clock the cooldown reads
	is.serve("k1", "k2")
	release := is.hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan response, 1)
	k2 := is.token("k2", now)
	go func() {
		done <- f.do(http.MethodGet, "/api/things/x", k2, func(r *http.Request) { *r = *r.WithContext(ctx) })
	}()
	select {
	case <-is.fetching: // the refetch for k2 is under way
	case res := <-done:
		t.Fatalf("the request ended without a refetch: %d %s", res.code, res.errorMessage())
	}
	cancel()
	cancelled := <-done
	require.Equal(t, http.StatusUnauthorized, cancelled.code)
	release()

	res := f.do(http.MethodGet, "/api/things/x", is.token("k2", now))
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Equal(t, map[string]any{"type": "service", "subject": "external:build-bot"}, res.body)
	require.EqualValues(t, 2, is.fetches.Load(), "the refetch the cancelled request began served the next one")
	require.Equal(t, "cannot verify the token", cancelled.errorMessage(), "the cancelled request is not told the kid is unknown")
}

// TestJWKSKeyRotation: a kid the issuer introduces is picked up at once; a kid it dropped is
// refused without another fetch while the cooldown runs.
func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	is := newRotatingIssuer(t, "k1")
	f := newFixture(t, func(o *auth.Options) { o.ExternalAccess, o.HTTPClient = is.access(), is.srv.Client() })
	now := f.clock.Now()
	old := is.token("k1", now)
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", old).code)

	is.serve("k2")
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", is.token("k2", now)).code)
	require.EqualValues(t, 2, is.fetches.Load())

	res := f.do(http.MethodGet, "/api/things/x", old)
	require.Equal(t, http.StatusUnauthorized, res.code)
	require.Equal(t, "unknown signing key", res.errorMessage())
	is.serve("k2", "k3")
	res = f.do(http.MethodGet, "/api/things/x", is.token("k3", now))
	require.Equal(t, http.StatusUnauthorized, res.code, "within the cooldown")
	require.EqualValues(t, 2, is.fetches.Load(), "no fetch within the cooldown")
}

// TestJWKSCooldownEnds: once the cooldown has passed, an unknown kid refetches again.
func TestJWKSCooldownEnds(t *testing.T) {
	t.Parallel()
	is := newRotatingIssuer(t, "k1")
	f := newFixture(t, func(o *auth.Options) {
		o.ExternalAccess, o.HTTPClient = is.access(), is.srv.Client()
		auth.SetJWKSCooldown(o, 20*time.Millisecond)
	})
	now := f.clock.Now()
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", is.token("k1", now)).code)
	for _, kid := range []string{"k2", "k3"} { // the second waits for the first's cooldown
		is.serve("k1", kid)
		tok := is.token(kid, now)
		require.Eventually(t, func() bool { return f.do(http.MethodGet, "/api/things/x", tok).code == http.StatusOK }, 10*time.Second, 5*time.Millisecond, kid)
	}
	require.EqualValues(t, 3, is.fetches.Load())
}

// TestJWKSStopsWithService: Start fetches the JWKS in the background; Stop ends the refresh
// goroutine and abandons a fetch the issuer holds back, leaving no goroutine behind.
func TestJWKSStopsWithService(t *testing.T) {
	// Not parallel: goleak looks at every goroutine of the process.
	ignore := goleak.IgnoreCurrent()
	is := newRotatingIssuer(t, "k1")
	svc, err := auth.New(auth.Options{Store: auth.NewMemoryStore(), Publisher: &eventsvctest.Recorder{}, Logger: zerolog.Nop(),
		ExternalAccess: is.access(), HTTPClient: is.srv.Client()})
	require.NoError(t, err)
	srv, err := httpserver.New(httpserver.Params{Listen: httpserver.Listen{Host: "127.0.0.1"}, Logger: zerolog.Nop(),
		Registry: prometheus.NewRegistry(), Routes: testRoutes, Authenticator: svc})
	require.NoError(t, err)
	require.NoError(t, svc.Start(context.Background()))
	require.Eventually(t, func() bool { return is.fetches.Load() == 1 }, 10*time.Second, 5*time.Millisecond, "Start fetches the JWKS")

	call := func(tok string) int {
		r := httptest.NewRequest(http.MethodGet, "/api/things/x", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		return w.Code
	}
	require.Equal(t, http.StatusOK, call(is.token("k1", time.Now())))

	// A refetch the issuer never answers: Stop cancels it.
	is.serve("k1", "k2")
	release := is.hold()
	ctx, cancel := context.WithCancel(context.Background())
	k2 := is.token("k2", time.Now())
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		r := httptest.NewRequest(http.MethodGet, "/api/things/x", nil).WithContext(ctx)
		r.Header.Set("Authorization", "Bearer "+k2)
		srv.Handler().ServeHTTP(httptest.NewRecorder(), r)
	}()
	select {
	case <-is.fetching:
	case <-returned:
		t.Fatal("the request ended without a refetch")
	}
	cancel()
	<-returned
	require.NoError(t, svc.Stop(context.Background()))
	release()
	is.srv.Close()
	is.srv.Client().CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

// TestJWKSBodyLimit: a JWKS answer larger than 1 MiB is not read to its end, and its keys
// are not used.
func TestJWKSBodyLimit(t *testing.T) {
	t.Parallel()
	key := newForger(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpserver.WriteJSON(w, http.StatusOK, map[string]any{"keys": []auth.JWK{jwkOf(t, "k1", &key.priv.PublicKey)}, "padding": strings.Repeat("x", 2<<20)})
	}))
	t.Cleanup(srv.Close)
	f := newFixture(t, func(o *auth.Options) {
		o.ExternalAccess = []auth.ExternalAccess{{Type: auth.ExternalJWKS, Options: auth.ExternalAccessOptions{URL: srv.URL, Algorithm: "ES256"}}}
		o.HTTPClient = srv.Client()
	})
	now := f.clock.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "build-bot", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(key.priv)
	require.NoError(t, err)
	res := f.do(http.MethodGet, "/api/things/x", signed)
	require.Equal(t, http.StatusUnauthorized, res.code)
	require.Equal(t, "unknown signing key", res.errorMessage())
}
