package ingress_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// flakyBus records events, and fails while failing is set.
type flakyBus struct {
	eventsvctest.Recorder
	failing atomic.Bool
}

func (f *flakyBus) Publish(ctx context.Context, e eventsvc.Event) error {
	return f.PublishBatch(ctx, e)
}

func (f *flakyBus) PublishBatch(ctx context.Context, events ...eventsvc.Event) error {
	if f.failing.Load() {
		return errors.New("broker unreachable")
	}
	return f.Recorder.PublishBatch(ctx, events...)
}

const hmacSecret = "shared-secret-for-orders"

func hmacHex(body string) string {
	mac := hmac.New(sha256.New, []byte(hmacSecret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

type fixture struct {
	in  *ingress.Ingress
	bus *flakyBus
	reg *prometheus.Registry
}

// newIngress builds an ingress with generic topics: orders (hmac-sha256, hex, delivery id in
// X-Delivery), notify (Standard Webhooks), open (insecure, rate-limited).
func newIngress(t *testing.T) fixture {
	t.Helper()
	var cfg ingress.Config
	cfg.SetDefaults()
	cfg.MaxBodyBytes = 2048
	cfg.Topics = []string{"orders", "notify", "open"}
	cfg.TopicOptions = map[string]ingress.TopicOptions{
		"orders": {Verifier: ingress.VerifierHMACSHA256, Secrets: ingress.Secrets{config.Secret(hmacSecret)}, SignatureHeader: "X-Signature", DeliveryIDHeader: "X-Delivery"},
		"notify": {Verifier: ingress.VerifierStandardWebhooks, Secrets: ingress.Secrets{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		"open":   {Insecure: true, RateLimit: &ingress.RateLimit{RequestsPerSecond: 1, Burst: 2}},
	}
	require.NoError(t, cfg.Validate())
	db := databasetest.SQLite(t, ingress.DedupMigrations)
	bus := &flakyBus{}
	reg := prometheus.NewRegistry()
	in, err := ingress.New(ingress.Params{Config: cfg, Publisher: bus, Dedup: startDedup(t, db), Logger: zerolog.Nop(), Registerer: reg})
	require.NoError(t, err)
	return fixture{in: in, bus: bus, reg: reg}
}

type request struct {
	topic       string
	body        string
	contentType string
	headers     map[string]string
}

func (f fixture) post(t *testing.T, r request) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/events/http/"+r.topic, strings.NewReader(r.body))
	req.SetPathValue("topic", r.topic)
	ct := r.contentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.in.ServeHTTP(w, req)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w, body
}

func signedOrder(id, body string) request {
	return request{topic: "orders", body: body, headers: map[string]string{"X-Signature": hmacHex(body), "X-Delivery": id}}
}

func TestIngress(t *testing.T) {
	t.Parallel()
	swHeaders := map[string]string{ingress.HeaderWebhookID: "msg_p5jXN8AQM9LWM0D4loKWxJek", ingress.HeaderWebhookTimestamp: "1614265330",
		ingress.HeaderWebhookSignature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
	tests := []struct {
		name       string
		req        request
		now        time.Time
		wantStatus int
		wantError  string // error name
		wantEvents int
		retryAfter bool
	}{
		{name: "signed JSON is accepted", req: signedOrder("o-1", `{"id":1}`), wantStatus: 202, wantEvents: 1},
		{name: "unknown topic", req: request{topic: "nope", body: "{}"}, wantStatus: 404, wantError: "NotFoundError"},
		{name: "tampered body", req: request{topic: "orders", body: `{"id":2}`, headers: map[string]string{"X-Signature": hmacHex(`{"id":1}`), "X-Delivery": "o-2"}}, wantStatus: 401, wantError: "AuthenticationError"},
		{name: "wrong secret", req: request{topic: "orders", body: `{}`, headers: map[string]string{"X-Signature": strings.Repeat("ab", 32)}}, wantStatus: 401, wantError: "AuthenticationError"},
		{name: "missing signature", req: request{topic: "orders", body: `{}`}, wantStatus: 401, wantError: "AuthenticationError"},
		{name: "too large", req: signedOrder("o-3", `{"x":"`+strings.Repeat("a", 3000)+`"}`), wantStatus: 413, wantError: "PayloadTooLargeError"},
		{name: "unsupported media type", req: request{topic: "orders", body: "<xml/>", contentType: "application/xml"}, wantStatus: 415, wantError: "UnsupportedMediaTypeError"},
		{name: "signed but not JSON", req: signedOrder("o-4", `{"id":`), wantStatus: 400, wantError: "InputError"},
		{name: "Standard Webhooks vector", req: request{topic: "notify", body: `{"test": 2432232314}`, headers: swHeaders}, now: time.Unix(1614265330, 0), wantStatus: 202, wantEvents: 1},
		{name: "stale Standard Webhooks timestamp", req: request{topic: "notify", body: `{"test": 2432232314}`, headers: swHeaders}, now: time.Unix(1614265330+301, 0), wantStatus: 401, wantError: "AuthenticationError"},
		{name: "insecure topic needs no signature", req: request{topic: "open", body: `{}`}, wantStatus: 202, wantEvents: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newIngress(t)
			if !tt.now.IsZero() {
				ingress.SetClock(f.in, func() time.Time { return tt.now })
			}
			w, body := f.post(t, tt.req)
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			if tt.wantError != "" {
				require.Equal(t, tt.wantError, body["error"].(map[string]any)["name"])
			} else {
				require.Equal(t, "accepted", body["status"])
			}
			require.Len(t, f.bus.Published(), tt.wantEvents, "nothing is published unless accepted")
		})
	}
}

func TestAcceptedEvent(t *testing.T) {
	t.Parallel()
	f := newIngress(t)
	body := `{"id":7}`
	r := signedOrder("delivery-7", body)
	r.headers["Authorization"] = "Bearer should-not-travel"
	r.headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	w, _ := f.post(t, r)
	require.Equal(t, 202, w.Code)
	e := f.bus.Published()[0]
	require.Equal(t, "delivery-7", e.ID, "the delivery id is the event id")
	require.Equal(t, "orders", e.Topic)
	require.Equal(t, body, string(e.Payload))
	require.Equal(t, "delivery-7", e.Metadata["x-delivery"])
	require.Equal(t, "delivery-7", e.Metadata[eventsvc.MetaCorrelationID])
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", e.Metadata[eventsvc.MetaTraceparent])
	require.NotContains(t, e.Metadata, "authorization")
}

func TestFormBody(t *testing.T) {
	t.Parallel()
	f := newIngress(t)
	payload := `{"action":"opened"}`
	body := "payload=" + url.QueryEscape(payload)
	w, _ := f.post(t, request{topic: "orders", body: body, contentType: "application/x-www-form-urlencoded",
		headers: map[string]string{"X-Signature": hmacHex(body), "X-Delivery": "form-1"}})
	require.Equal(t, 202, w.Code, w.Body.String())
	require.Equal(t, payload, string(f.bus.Published()[0].Payload), "the signature covers the form, the event carries the JSON")
}

// TestSameDeliveryConcurrently: 50 concurrent requests with one delivery id publish exactly one
// event.
func TestSameDeliveryConcurrently(t *testing.T) {
	t.Parallel()
	f := newIngress(t)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			w, _ := f.post(t, signedOrder("same", `{"n":1}`))
			mu.Lock()
			codes[w.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, f.bus.Published(), 1)
	require.Equal(t, 1, codes[http.StatusAccepted])
	require.Equal(t, 49, codes[http.StatusOK]+codes[http.StatusConflict], "the others are duplicates or pending: %v", codes)
	require.Eventually(t, func() bool {
		w, body := f.post(t, signedOrder("same", `{"n":1}`))
		return w.Code == http.StatusOK && body["status"] == "duplicate"
	}, 5*time.Second, 5*time.Millisecond)
	require.Len(t, f.bus.Published(), 1)
}

// TestFailedPublishIsRetried: 503 with Retry-After while the bus fails, then the sender's retry
// is accepted.
func TestFailedPublishIsRetried(t *testing.T) {
	t.Parallel()
	f := newIngress(t)
	f.bus.failing.Store(true)
	w, body := f.post(t, signedOrder("retry-me", `{}`))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "ServiceUnavailableError", body["error"].(map[string]any)["name"])
	require.Equal(t, "5", w.Header().Get("Retry-After"))
	require.Empty(t, f.bus.Published())
	f.bus.failing.Store(false)
	w, _ = f.post(t, signedOrder("retry-me", `{}`))
	require.Equal(t, http.StatusAccepted, w.Code)
	require.Len(t, f.bus.Published(), 1)
	require.Equal(t, 1.0, ingressCounter(t, f, "orders", ingress.ResultPublishFailed))
	require.Equal(t, 1.0, ingressCounter(t, f, "orders", ingress.ResultAccepted))
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	f := newIngress(t)
	at := time.Unix(1700000000, 0)
	ingress.SetClock(f.in, func() time.Time { return at })
	for i := range 2 {
		w, _ := f.post(t, request{topic: "open", body: `{}`})
		require.Equal(t, http.StatusAccepted, w.Code, "burst request %d", i)
	}
	w, body := f.post(t, request{topic: "open", body: `{}`})
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Equal(t, "TooManyRequestsError", body["error"].(map[string]any)["name"])
	wait, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, wait, 1)
	at = at.Add(time.Second)
	w, _ = f.post(t, request{topic: "open", body: `{}`})
	require.Equal(t, http.StatusAccepted, w.Code, "a token came back after a second")
}

// ingressCounter reads stagebus_ingress_requests_total{topic, result}.
func ingressCounter(t *testing.T, f fixture, topic, result string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "stagebus_ingress_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["topic"] == topic && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no stagebus_ingress_requests_total{topic=%q,result=%q}", topic, result)
	return 0
}

func TestFailClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		topics  []string
		options map[string]ingress.TopicOptions
		sources []ingress.Source
		want    string
	}{
		{name: "a generic topic without a verifier", topics: []string{"orders"},
			want: "topic orders has no verifier: set events.http.topicOptions.orders.verifier and secrets, or set events.http.topicOptions.orders.insecure: true"},
		{name: "a provider topic without a secret", topics: []string{"github"}, sources: []ingress.Source{{Topic: "github", Secrets: []ingress.SecretSetting{{Key: "events.modules.github.webhookSecret"}}}},
			want: "topic github has no verifier: set events.modules.github.webhookSecret, or set events.http.topicOptions.github.insecure: true"},
		{name: "a provider topic with two secret keys", topics: []string{"gitlab"},
			sources: []ingress.Source{{Topic: "gitlab", Secrets: []ingress.SecretSetting{{Key: "events.modules.gitlab.webhookSecret"}, {Key: "events.modules.gitlab.signingToken"}}}},
			want:    "topic gitlab has no verifier: set events.modules.gitlab.webhookSecret and/or events.modules.gitlab.signingToken, or"},
		{name: "a verifier on a provider topic", topics: []string{"github"}, sources: []ingress.Source{{Topic: "github", Verifier: ingress.TokenVerifier{}}},
			options: map[string]ingress.TopicOptions{"github": {Verifier: ingress.VerifierHMACSHA256, Secrets: ingress.Secrets{"x"}}},
			want:    "topic github is verified by its provider module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cfg ingress.Config
			cfg.SetDefaults()
			cfg.Topics, cfg.TopicOptions = tt.topics, tt.options
			_, err := ingress.New(ingress.Params{Config: cfg, Publisher: &flakyBus{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(), Sources: tt.sources})
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	var c ingress.Config
	c.SetDefaults()
	c.Topics = []string{"a", "a", "bad topic"}
	c.DedupRetention = time.Hour
	c.TopicOptions = map[string]ingress.TopicOptions{
		"a":     {Verifier: "md5"},
		"ghost": {Insecure: true},
	}
	err := c.Validate()
	for _, want := range []string{
		"topics[1]: a is listed twice",
		"topics[2]: invalid event",
		"dedupRetention: must be at least 72h",
		`topicOptions.a.verifier: must be standard-webhooks or hmac-sha256, got "md5"`,
		"topicOptions.ghost: ghost is not in events.http.topics",
	} {
		require.ErrorContains(t, err, want)
	}
	sw := ingress.Config{}
	sw.SetDefaults()
	sw.Topics = []string{"n"}
	sw.TopicOptions = map[string]ingress.TopicOptions{"n": {Verifier: ingress.VerifierStandardWebhooks, Secrets: ingress.Secrets{"whsec_!!"}}}
	require.ErrorContains(t, sw.Validate(), "topicOptions.n.secrets[0]: a Standard Webhooks secret must be whsec_ followed by base64")
}
