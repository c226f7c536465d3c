package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver"
)

// clock is a fake clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// echo answers the principal it sees.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p := httpserver.PrincipalFromContext(r.Context())
	httpserver.WriteJSON(w, http.StatusOK, map[string]string{"type": string(p.Type), "subject": p.Subject})
})

// testRoutes stand for other modules' routes.
var testRoutes = []httpserver.Route{
	{Method: http.MethodGet, Path: "/api/things/{name}", Handler: echo},
	{Method: http.MethodPost, Path: "/api/things/{name}", Handler: echo},
	{Method: http.MethodDelete, Path: "/api/things/{name}", Handler: echo, Auth: httpserver.RequireAdmin},
	{Method: http.MethodGet, Path: "/api/catalog/entities", Handler: echo},
	{Method: http.MethodGet, Path: "/api/catalogue/x", Handler: echo},
	{Method: http.MethodDelete, Path: "/api/catalog/entities/{uid}", Handler: echo, Auth: httpserver.RequireAdmin},
}

const testBaseURL = "http://stagebus.test"

type fixture struct {
	t     *testing.T
	svc   *auth.Service
	bus   *eventsvctest.Recorder
	store auth.Store
	clock *clock
	srv   *httpserver.Server
	env   config.Environment
}

// newFixture builds an unstarted Service (its audit records are published synchronously) on
// a memory store, and a server with its routes and testRoutes. alice is an admin.
func newFixture(t *testing.T, mutate func(o *auth.Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, bus: &eventsvctest.Recorder{}, store: auth.NewMemoryStore(), clock: newClock()}
	o := auth.Options{
		Store: f.store, Publisher: f.bus, Logger: zerolog.Nop(), Clock: f.clock.Now,
		BaseURL: testBaseURL, Admins: []string{"user:default/alice"}, Environment: "development",
	}
	if mutate != nil {
		mutate(&o)
	}
	svc, err := auth.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, svc.Stop(context.Background())) }) // ends JWKS refreshes
	f.svc, f.env = svc, o.Environment
	srv, err := httpserver.New(httpserver.Params{
		Listen:        httpserver.Listen{Host: "127.0.0.1"},
		Logger:        zerolog.Nop(),
		Registry:      prometheus.NewRegistry(),
		Routes:        append(svc.Routes(), testRoutes...),
		Authenticator: svc,
	})
	require.NoError(t, err)
	f.srv = srv
	return f
}

type response struct {
	code   int
	body   map[string]any
	header http.Header
}

func (r response) errorMessage() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// do sends a request with the token (none when empty) and decodes the JSON answer.
func (f *fixture) do(method, path, token string, mutate ...func(*http.Request)) response {
	f.t.Helper()
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = "192.0.2.10:4711"
	r.Header.Set("User-Agent", "attack-table/1.0")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for _, m := range mutate {
		m(r)
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return response{code: w.Code, body: body, header: w.Header()}
}

// records returns the audit records published so far.
func (f *fixture) records() []auth.AuditRecord {
	f.t.Helper()
	var out []auth.AuditRecord
	for _, e := range f.bus.Published(auth.AuditTopic) {
		var rec auth.AuditRecord
		require.NoError(f.t, json.Unmarshal(e.Payload, &rec))
		out = append(out, rec)
	}
	return out
}

// lastRecord returns the most recent audit record with the event id.
func (f *fixture) lastRecord(eventID string) auth.AuditRecord {
	f.t.Helper()
	recs := f.records()
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].EventID == eventID {
			return recs[i]
		}
	}
	f.t.Fatalf("no %s audit record among %d", eventID, len(recs))
	return auth.AuditRecord{}
}

func (f *fixture) userToken(ref string) string {
	f.t.Helper()
	tok, err := f.svc.IssueUserToken(context.Background(), auth.UserInfo{UserEntityRef: ref})
	require.NoError(f.t, err)
	return tok.Token
}

// forger holds a key whose public half is in the store, as another instance's of the same
// environment would be, so that tests can sign tokens with any header and claims.
type forger struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func (f *fixture) forger(expires time.Time) forger {
	f.t.Helper()
	g := newForger(f.t)
	require.NoError(f.t, f.store.AddPublicKey(context.Background(), auth.PublicKey{JWK: jwkOf(f.t, g.kid, &g.priv.PublicKey), Environment: f.env, CreatedAt: f.clock.Now(), ExpiresAt: expires}))
	return g
}

// newForger returns a key that is in no store.
func newForger(t testing.TB) forger {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return forger{kid: uuid.NewString(), priv: priv}
}

func jwkOf(t testing.TB, kid string, pub *ecdsa.PublicKey) auth.JWK {
	t.Helper()
	b, err := pub.Bytes()
	require.NoError(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	return auth.JWK{Kty: "EC", Kid: kid, Alg: "ES256", Use: "sig", Crv: "P-256", X: enc(b[1:33]), Y: enc(b[33:])}
}

// sign signs claims with the forger's key; header entries replace the defaults (typ user,
// the forger's kid); a nil value removes the entry.
func (g forger) sign(t testing.TB, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = auth.TypeUser
	tok.Header["kid"] = g.kid
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(g.priv)
	require.NoError(t, err)
	return s
}

// userClaims are valid user token claims at now.
func userClaims(now time.Time, sub string) jwt.MapClaims {
	return jwt.MapClaims{"iss": testBaseURL + "/api/auth", "sub": sub, "aud": auth.UserAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// with returns a copy of c with changes applied (a nil value removes the claim).
func with(c jwt.MapClaims, changes jwt.MapClaims) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// decodeSegment decodes a token's header (0) or payload (1).
func decodeSegment(t testing.TB, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// limitedToken rebuilds the limited user token of a user token as Backstage's
// UserTokenHandler.createLimitedUserToken does, without the key:
// b64(JSON.stringify({typ, alg, kid})).b64(JSON.stringify({sub, iat, exp})).uip.
func limitedToken(t testing.TB, userToken string) string {
	t.Helper()
	h, c := decodeSegment(t, userToken, 0), decodeSegment(t, userToken, 1)
	require.NotEmpty(t, c["uip"], "the user token has a uip claim")
	header := fmt.Sprintf(`{"typ":"vnd.backstage.limited-user","alg":%q,"kid":%q}`, h["alg"], h["kid"])
	payload := fmt.Sprintf(`{"sub":%q,"iat":%d,"exp":%d}`, c["sub"], int64(c["iat"].(float64)), int64(c["exp"].(float64)))
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + c["uip"].(string)
}
