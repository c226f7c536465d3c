package ingress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"go.uber.org/fx"
	"golang.org/x/time/rate"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/httpserver"
)

// Results counted by stagebus_ingress_requests_total.
const (
	ResultAccepted      = "accepted"
	ResultDuplicate     = "duplicate"
	ResultPending       = "pending"
	ResultBadSignature  = "bad_signature"
	ResultTooLarge      = "too_large"
	ResultUnsupported   = "unsupported_media_type"
	ResultInvalid       = "invalid"
	ResultRateLimited   = "rate_limited"
	ResultPublishFailed = "publish_failed"
	ResultUnknownTopic  = "unknown_topic"
)

// retryAfter is what 409, 429 (at least) and 503 tell senders to wait, in seconds.
const retryAfter = 5

// MinSecretLength is the shortest webhook secret production accepts; development only warns.
const MinSecretLength = 16

// MaxDeliveryIDLength bounds a delivery id, in bytes; longer ones are answered 400 before they
// reach the database.
const MaxDeliveryIDLength = 200

// MetaEventNameUnknown is the metadata key, set to "true" on an event whose name its provider
// does not document (nor events.http.topicOptions.<topic>.subTopics lists): it gets no
// sub-topic. A request header of that name is dropped, so that only the ingress sets it.
const MetaEventNameUnknown = "event_name_unknown"

// MetaEventNameSource is the metadata key, set on every sub-topic event, that says where the
// sub-topic's name came from: [FromUnsignedHeader] or [FromPayload]. A request header of that
// name is dropped, so that only the ingress sets it.
const MetaEventNameSource = "event_name_source"

// Values of [MetaEventNameSource].
const (
	// FromUnsignedHeader: the name is a request header, which no provider signs (GitHub's
	// X-GitHub-Event, Bitbucket's X-Event-Key, Gitea's X-Gitea-Event). It is as trustworthy as
	// the request, not as the payload.
	FromUnsignedHeader = "unsigned-header"
	// FromPayload: the name is a field of the payload (GitLab's object_kind or event_name),
	// covered by the signature where the sender signs the body.
	FromPayload = "payload"
)

// Ingress serves POST /api/events/http/{topic}.
//
// A webhook becomes one event on its topic and, when its provider names the event (e.g.
// X-GitHub-Event: push) with a name it documents, a second one on the sub-topic
// (github.push), published together in one batch. On a bus that can publish once (the SQL
// bus), the delivery id is recorded with the events in the same transaction, and that record
// alone decides duplicates. On the others the delivery id is claimed in the deduplication
// table first and confirmed after the publish.
type Ingress struct {
	cfg    Config
	pub    eventsvc.BatchPublisher
	once   onceBus // nil when the bus cannot publish once
	dedup  *Dedup
	log    zerolog.Logger
	topics map[string]*topic
	now    func() time.Time

	// dropped are the lower-case header names never copied into metadata.
	dropped map[string]bool

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	unknownEvents *prometheus.CounterVec
}

// onceBus is the part of *eventsvc.Service that publishes once.
type onceBus interface {
	PublishOnce(ctx context.Context, once eventsvc.Once, events ...eventsvc.Event) error
}

type topic struct {
	Source
	insecure bool
	limiter  *rate.Limiter
	// known are the event names that get a sub-topic.
	known map[string]bool
}

// Params are the inputs of [New].
type Params struct {
	fx.In
	Config     Config
	Publisher  eventsvc.BatchPublisher
	Dedup      *Dedup
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
	Sources    []Source `group:"ingress.sources"`
	// Environment is auth.environment; empty means production.
	Environment config.Environment `optional:"true"`
}

// New resolves each listed topic to its source and refuses, naming the topic, a topic that
// nothing verifies unless it is marked insecure. In production it refuses webhook secrets
// shorter than MinSecretLength, naming their key; in development it warns.
func New(p Params) (*Ingress, error) {
	in := &Ingress{cfg: p.Config, pub: p.Publisher, dedup: p.Dedup, log: p.Logger, topics: map[string]*topic{}, now: time.Now}
	if o, ok := p.Publisher.(interface {
		onceBus
		CanPublishOnce() bool
	}); ok && o.CanPublishOnce() {
		in.once = o
	}
	providers := map[string]Source{}
	for _, s := range p.Sources {
		providers[s.Topic] = s
	}
	production := !p.Environment.IsDevelopment()
	var problems config.Problems
	for _, name := range p.Config.Topics {
		opts := p.Config.TopicOptions[name]
		src, ok := providers[name]
		switch {
		case ok && opts.Verifier != "":
			problems = append(problems, config.Problem{Path: "events.http.topicOptions." + name + ".verifier",
				Message: fmt.Sprintf("topic %s is verified by its provider module; remove the verifier here", name)})
			continue
		case !ok:
			src = genericSource(name, opts)
		}
		if src.Verifier == nil && !opts.Insecure {
			problems = append(problems, config.Problem{Path: "events.http.topics",
				Message: fmt.Sprintf("topic %s has no verifier: %s, or set events.http.topicOptions.%s.insecure: true to accept unsigned requests", name, howToVerify(src, ok), name)})
			continue
		}
		if src.EventName != nil && src.EventNameSource != FromUnsignedHeader && src.EventNameSource != FromPayload {
			return nil, fmt.Errorf("ingress: the source of topic %s names events but says neither where from (EventNameSource %q)", name, src.EventNameSource)
		}
		if len(opts.SubTopics) > 0 && src.EventName == nil {
			problems = append(problems, config.Problem{Path: "events.http.topicOptions." + name + ".subTopics",
				Message: fmt.Sprintf("topic %s names no events (only provider topics have sub-topics); remove subTopics", name)})
			continue
		}
		problems = append(problems, in.checkSecretLengths(src, production)...)
		t := &topic{Source: src, insecure: src.Verifier == nil}
		if src.EventName != nil {
			t.known = map[string]bool{}
			for _, n := range append(append([]string(nil), src.KnownEvents...), opts.SubTopics...) {
				t.known[n] = true
			}
		}
		if r := opts.RateLimit; r != nil {
			burst := r.Burst
			if burst == 0 {
				burst = max(1, int(math.Ceil(r.RequestsPerSecond)))
			}
			t.limiter = rate.NewLimiter(rate.Limit(r.RequestsPerSecond), burst)
		}
		if t.insecure {
			p.Logger.Warn().Str("topic", name).Msg("webhook topic accepts unsigned requests (insecure: true)")
		}
		in.topics[name] = t
	}
	if len(problems) > 0 {
		return nil, problems
	}
	in.dropped = droppedHeaders(p.Sources, in.topics)
	in.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stagebus_ingress_requests_total", Help: "Webhook requests by topic and result.",
	}, []string{"topic", "result"})
	in.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "stagebus_ingress_duration_seconds", Help: "Time from request to answer, by topic.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"topic"})
	in.unknownEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stagebus_ingress_unknown_event_names_total",
		Help: "Accepted webhooks whose event name the provider does not document: they get no sub-topic. By topic only; the names are the sender's.",
	}, []string{"topic"})
	for _, c := range []prometheus.Collector{in.requests, in.duration, in.unknownEvents} {
		if err := p.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register ingress metrics: %w", err)
		}
	}
	return in, nil
}

// secretKeys joins the configuration keys of a source's secrets.
func secretKeys(src Source, sep string) string {
	keys := make([]string, 0, len(src.Secrets))
	for _, s := range src.Secrets {
		keys = append(keys, s.Key)
	}
	return strings.Join(keys, sep)
}

func howToVerify(src Source, provider bool) string {
	if provider && len(src.Secrets) == 0 {
		return "configure the secret of its provider module"
	}
	if provider {
		return "set " + secretKeys(src, " and/or ")
	}
	return "set events.http.topicOptions." + src.Topic + ".verifier and secrets"
}

// checkSecretLengths returns a problem per secret of src shorter than MinSecretLength in
// production, and logs a warning per such secret otherwise. Neither shows the secret.
func (in *Ingress) checkSecretLengths(src Source, production bool) config.Problems {
	var problems config.Problems
	for _, s := range src.Secrets {
		for i, v := range s.Values {
			if len(v.Value()) >= MinSecretLength {
				continue
			}
			key := s.Key
			if len(s.Values) > 1 {
				key = fmt.Sprintf("%s[%d]", key, i)
			}
			if production {
				problems = append(problems, config.Problem{Path: key, Message: fmt.Sprintf(
					"a webhook secret must have at least %d characters in production: generate one (e.g. openssl rand -hex 32) and set it here and at the sender", MinSecretLength)})
				continue
			}
			in.log.Warn().Str("key", key).Int("min_length", MinSecretLength).
				Msg("webhook secret is shorter than the minimum; production (auth.environment) refuses it")
		}
	}
	return problems
}

// droppedHeaders are the lower-case header names kept out of metadata: credentials of any
// kind (every source's signature headers, whatever the topic, since one sender's signature
// may be replayed on its own topic), hop-by-hop headers, and the metadata the ingress sets.
func droppedHeaders(sources []Source, topics map[string]*topic) map[string]bool {
	d := map[string]bool{
		"authorization": true, "proxy-authorization": true, "cookie": true,
		"content-length": true, "connection": true, "keep-alive": true, "te": true, "trailer": true,
		"transfer-encoding": true, "upgrade": true, "accept-encoding": true,
		strings.ToLower(HeaderWebhookSignature): true, strings.ToLower(DefaultSignatureHeader): true,
		MetaEventNameUnknown: true, MetaEventNameSource: true,
	}
	for _, s := range sources {
		for _, h := range s.SignatureHeaders {
			d[strings.ToLower(h)] = true
		}
	}
	for _, t := range topics {
		for _, h := range t.SignatureHeaders {
			d[strings.ToLower(h)] = true
		}
	}
	return d
}

// Topics returns the topics that have a route, sorted.
func (in *Ingress) Topics() []string {
	out := make([]string, 0, len(in.topics))
	for t := range in.topics {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Routes returns the ingress route; senders authenticate with their signatures, so the route
// itself is declared unauthenticated.
func (in *Ingress) Routes() []httpserver.Route {
	return []httpserver.Route{{Method: http.MethodPost, Path: "/api/events/http/{topic}", Handler: in, Auth: httpserver.Unauthenticated}}
}

// ServeHTTP handles one webhook.
func (in *Ingress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("topic")
	t := in.topics[name]
	label := name
	if t == nil {
		label = "unknown" // never a label per arbitrary path
	}
	result := in.handle(w, r, t, name)
	in.requests.WithLabelValues(label, result).Inc()
	in.duration.WithLabelValues(label).Observe(time.Since(start).Seconds())
}

func fail(w http.ResponseWriter, r *http.Request, status int, retry bool, format string, args ...any) {
	if retry {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	httpserver.WriteError(w, r, httpserver.Errorf(status, format, args...))
}

func (in *Ingress) handle(w http.ResponseWriter, r *http.Request, t *topic, name string) string {
	log := zerolog.Ctx(r.Context())
	if t == nil {
		fail(w, r, http.StatusNotFound, false, "no webhook topic %q; the topics are listed in events.http.topics", name)
		return ResultUnknownTopic
	}
	if t.limiter != nil {
		if res := t.limiter.ReserveN(in.now(), 1); !res.OK() || res.DelayFrom(in.now()) > 0 {
			wait := res.DelayFrom(in.now())
			res.CancelAt(in.now())
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusTooManyRequests, "too many requests on topic %s", name))
			return ResultRateLimited
		}
	}
	if r.ContentLength > in.cfg.MaxBodyBytes {
		fail(w, r, http.StatusRequestEntityTooLarge, false, "the body exceeds events.http.maxBodyBytes (%d bytes)", in.cfg.MaxBodyBytes)
		return ResultTooLarge
	}
	media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	form := media == "application/x-www-form-urlencoded"
	if err != nil || !(form || media == "application/json" || strings.HasSuffix(media, "+json")) {
		fail(w, r, http.StatusUnsupportedMediaType, false, "Content-Type must be application/json or application/x-www-form-urlencoded, got %q", r.Header.Get("Content-Type"))
		return ResultUnsupported
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, in.cfg.MaxBodyBytes), r.ContentLength, in.cfg.MaxBodyBytes)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(w, r, http.StatusRequestEntityTooLarge, false, "the body exceeds events.http.maxBodyBytes (%d bytes)", in.cfg.MaxBodyBytes)
			return ResultTooLarge
		}
		fail(w, r, http.StatusBadRequest, false, "could not read the body")
		return ResultInvalid
	}
	if t.Verifier != nil {
		if err := t.Verifier.Verify(r.Header, body, in.now()); err != nil {
			log.Warn().Str("topic", name).Str("reason", err.Error()).Str("remote", r.RemoteAddr).Msg("webhook refused")
			fail(w, r, http.StatusUnauthorized, false, "%v", err)
			return ResultBadSignature
		}
	}
	payload, err := decodeBody(body, form)
	if err != nil {
		fail(w, r, http.StatusBadRequest, false, "%v", err)
		return ResultInvalid
	}
	var key string
	if t.Inspect != nil {
		if key, err = t.Inspect(r.Header, payload); err != nil {
			fail(w, r, http.StatusBadRequest, false, "%v", err)
			return ResultInvalid
		}
	}
	var id string
	if t.DeliveryID != nil {
		id = t.DeliveryID(r.Header)
		if err := ValidateDeliveryID(id); err != nil {
			fail(w, r, http.StatusBadRequest, false, "%v", err)
			return ResultInvalid
		}
	}
	events := in.events(r, t, name, id, key, payload)
	if in.once != nil && id != "" {
		return in.publishOnce(w, r, name, id, events)
	}
	return in.claimAndPublish(w, r, name, id, events)
}

// events makes the webhook's events: one on the topic and, when the provider names the event
// with a name it documents (or events.http.topicOptions.<topic>.subTopics lists), one on the
// sub-topic <topic>.<name> with the same id, key, time and payload, and MetaEventNameSource.
// An event with a name that is not known stays on the topic alone, marked with
// MetaEventNameUnknown and counted: no sender can create topics (and metric series) at will.
func (in *Ingress) events(r *http.Request, t *topic, name, id, key string, payload []byte) []eventsvc.Event {
	if id == "" {
		id = watermill.NewUUID() // both events carry the same id
	}
	e := eventsvc.Event{ID: id, Topic: name, Key: key, Payload: payload, Metadata: in.metadata(r.Header), Time: in.now()}
	if t.EventName == nil {
		return []eventsvc.Event{e}
	}
	n := t.EventName(r.Header, payload)
	switch {
	case n == "":
		return []eventsvc.Event{e}
	case !t.known[n]:
		e.Metadata[MetaEventNameUnknown] = "true"
		in.unknownEvents.WithLabelValues(name).Inc()
		return []eventsvc.Event{e}
	}
	sub := e
	sub.Topic = name + "." + n
	sub.Metadata = maps.Clone(e.Metadata)
	sub.Metadata[MetaEventNameSource] = t.EventNameSource
	return []eventsvc.Event{e, sub}
}

// publishOnce records the delivery and publishes its events in one transaction: the record
// alone decides whether the delivery is a duplicate.
func (in *Ingress) publishOnce(w http.ResponseWriter, r *http.Request, name, id string, events []eventsvc.Event) string {
	pctx, cancel := context.WithTimeout(r.Context(), in.cfg.PublishTimeout)
	err := in.once.PublishOnce(pctx, eventsvc.Once{Scope: name, ID: id, Keep: in.cfg.DedupRetention}, events...)
	cancel()
	switch {
	case errors.Is(err, eventsvc.ErrDuplicate):
		httpserver.WriteJSON(w, http.StatusOK, map[string]string{"status": "duplicate"})
		return ResultDuplicate
	case err != nil:
		zerolog.Ctx(r.Context()).Error().Err(err).Str("topic", name).Str("delivery_id", id).Msg("webhook not published")
		fail(w, r, http.StatusServiceUnavailable, true, "the events bus did not take the webhook; retry later")
		return ResultPublishFailed
	}
	httpserver.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
	return ResultAccepted
}

// claimAndPublish claims the delivery id in the deduplication table, publishes the events, and
// confirms the claim, or releases it when the publish failed so that the sender's retry is
// accepted. Without a delivery id it only publishes.
func (in *Ingress) claimAndPublish(w http.ResponseWriter, r *http.Request, name, id string, events []eventsvc.Event) string {
	ctx := r.Context()
	log := zerolog.Ctx(ctx)
	if id != "" {
		claim, err := in.dedup.Claim(ctx, name, id)
		if err != nil {
			log.Error().Err(err).Str("topic", name).Msg("deduplication unavailable")
			fail(w, r, http.StatusServiceUnavailable, true, "the webhook could not be recorded; retry later")
			return ResultPublishFailed
		}
		switch claim {
		case Duplicate:
			httpserver.WriteJSON(w, http.StatusOK, map[string]string{"status": "duplicate"})
			return ResultDuplicate
		case Pending:
			fail(w, r, http.StatusConflict, true, "delivery %s is being processed; retry later", id)
			return ResultPending
		}
	}
	pctx, cancel := context.WithTimeout(ctx, in.cfg.PublishTimeout)
	err := in.pub.PublishBatch(pctx, events...)
	cancel()
	if err != nil {
		log.Error().Err(err).Str("topic", name).Str("delivery_id", id).Msg("webhook not published")
		if id != "" {
			// Forget the claim, so that the sender's retry is accepted; the request's own context
			// may be gone already.
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if rerr := in.dedup.Release(rctx, name, id); rerr != nil {
				log.Error().Err(rerr).Str("delivery_id", id).Msg("could not release the delivery; its retries answer 409 until the claim goes stale")
			}
			rcancel()
		}
		fail(w, r, http.StatusServiceUnavailable, true, "the events bus did not take the webhook; retry later")
		return ResultPublishFailed
	}
	if id != "" {
		in.dedup.Confirm(name, id)
	}
	httpserver.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
	return ResultAccepted
}

// decodeBody returns the JSON payload: the body, or the payload field of a form.
func decodeBody(body []byte, form bool) ([]byte, error) {
	if form {
		vals, err := url.ParseQuery(string(body))
		if err != nil || vals.Get("payload") == "" {
			return nil, errors.New("a form body needs a payload field holding the JSON")
		}
		body = []byte(vals.Get("payload"))
	}
	if !gjson.ValidBytes(body) {
		return nil, errors.New("the payload is not valid JSON")
	}
	return body, nil
}

// ValidateDeliveryID accepts an id of 1 to MaxDeliveryIDLength printable ASCII characters
// (space to tilde), or none: anything else would be refused by, or strain, the database's
// index of delivery ids. The error does not repeat the id.
func ValidateDeliveryID(id string) error {
	if len(id) > MaxDeliveryIDLength {
		return fmt.Errorf("the delivery id has %d bytes; at most %d printable ASCII characters are accepted", len(id), MaxDeliveryIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("the delivery id has a byte that is not printable ASCII at offset %d; at most %d printable ASCII characters are accepted", i, MaxDeliveryIDLength)
		}
	}
	return nil
}

// metadata keeps the request headers, lower-cased (as Backstage passes them), without
// credentials and signatures; repeated values are joined with ", ".
func (in *Ingress) metadata(h http.Header) map[string]string {
	m := make(map[string]string, len(h)+1)
	for k, vs := range h {
		lk := strings.ToLower(k)
		if in.dropped[lk] || strings.HasPrefix(lk, "stagebus-") {
			continue
		}
		m[lk] = strings.Join(vs, ", ")
	}
	return m
}

// Module provides the ingress (its route, its deduplication table and purge) from
// events.http and the sources provider modules contribute.
var Module = fx.Module("eventsvc/ingress",
	config.Provide[Config]("events.http"),
	database.AsMigrations(DedupMigrations...),
	fx.Provide(
		func(lc fx.Lifecycle, db *database.DB, cfg Config, log zerolog.Logger, reg prometheus.Registerer) *Dedup {
			d := NewDedup(db, cfg.DedupRetention, log.With().Str("module", "events.http").Logger(), reg)
			lc.Append(fx.StartStopHook(d.Start, d.Stop))
			return d
		},
		New,
		httpserver.AsRoutes(func(in *Ingress) []httpserver.Route { return in.Routes() }),
	),
)

// readBody reads the whole body into one buffer sized from the Content-Length it announces
// (up to limit), instead of io.ReadAll's doubling: that growth was a quarter of the bytes the
// server allocated under ingest load. A body longer or shorter than announced is still read
// whole (the buffer grows), and r bounds it.
func readBody(r io.Reader, announced, limit int64) ([]byte, error) {
	if announced <= 0 || announced > limit {
		return io.ReadAll(r)
	}
	var buf bytes.Buffer
	buf.Grow(int(announced) + bytes.MinRead)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
