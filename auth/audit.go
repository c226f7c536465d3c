package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/eventsvc"
)

// AuditTopic is the bus topic auth publishes its audit records on.
const AuditTopic = "auth.audit"

// AuditPlugin is the plugin field of auth's audit records.
const AuditPlugin = "auth"

// The audit event ids (Backstage's eventId: kebab-case, no plugin prefix).
const (
	// EventTokenIssue: a user or service token was issued (succeeded).
	EventTokenIssue = "token-issue"
	// EventAuthenticate: a request was refused with 401 (failed); meta.reason says why.
	EventAuthenticate = "authenticate"
	// EventAuthorize: a request with valid credentials was refused with 403 (failed).
	EventAuthorize = "authorize"
	// EventExternalAccess: an external principal was used, recorded once per principal per
	// hour and instance (succeeded).
	EventExternalAccess = "external-access"
	// EventSignIn: a person signed in through a provider (succeeded), or was refused
	// (failed; meta.reason says why).
	EventSignIn = "sign-in"
	// EventSignInRefresh: a sign-in session could not be refreshed (failed).
	EventSignInRefresh = "sign-in-refresh"
	// EventLogout: a person signed out (succeeded).
	EventLogout = "logout"
)

// Audit statuses and severities, as in Backstage's AuditorService.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"

	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// AuditRecord is one audit event in Backstage's AuditorService shape. It is the JSON payload
// of the events on [AuditTopic]; the bus event's id identifies it.
type AuditRecord struct {
	Plugin        string         `json:"plugin"`
	EventID       string         `json:"eventId"`
	SeverityLevel string         `json:"severityLevel"`
	Actor         AuditActor     `json:"actor"`
	Request       *AuditRequest  `json:"request,omitempty"`
	Meta          map[string]any `json:"meta,omitempty"`
	Status        string         `json:"status"`
	// Error is the failure's reason (never a credential).
	Error string `json:"error,omitempty"`
	// Timestamp is when it happened.
	Timestamp time.Time `json:"timestamp"`
}

// AuditActor is who caused the event: the principal when known, and where the request came
// from.
type AuditActor struct {
	ActorID   string `json:"actorId,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
}

// AuditRequest is the request that caused the event. URL is the path only: query strings
// may carry secrets of other systems and are not recorded.
type AuditRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// maxUserAgent bounds the user agent kept in a record.
const maxUserAgent = 256

// requestFacts fills the actor's address and user agent and the request from r.
func requestFacts(rec *AuditRecord, r *http.Request) {
	if r == nil {
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	rec.Actor.IP = host
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	rec.Actor.UserAgent = ua
	rec.Request = &AuditRequest{Method: r.Method, URL: r.URL.Path}
}

// AuditorOptions tune an [Auditor].
type AuditorOptions struct {
	// QueueSize bounds the records waiting to be published once started (default 4096);
	// records beyond it are dropped and counted.
	QueueSize int
	// Workers publish concurrently once started (default 8), so that a Kafka bus batches
	// them.
	Workers int
	// PublishTimeout bounds one publish (default 5s).
	PublishTimeout time.Duration
	// Registerer, when set, receives stagebus_auth_audit_dropped_total and
	// stagebus_auth_audit_publish_failures_total.
	Registerer prometheus.Registerer
	// AuditLog, when set, is the durable audit log (subscribers/audit's writer, provided
	// under the fx name "auditLog"). Record then hands each record to it and returns once
	// the log says it is committed — so a refused request is answered after its record is
	// durable — and the log publishes the committed rows on the bus. It bounds its own
	// memory and wait, and aggregates denials rather than dropping them; nothing is queued
	// or dropped here.
	AuditLog eventsvc.Publisher
}

// Auditor publishes audit records: to the durable audit log when [AuditorOptions].AuditLog
// is set (waiting for the commit), else on the bus. A failure never fails the caller: it
// is logged (without credentials, at most once a minute) and counted.
//
// Without an audit log: before Start (and after Stop) Record publishes synchronously, which
// keeps unit tests deterministic; between them records are queued and published by
// background workers, so that a flood of refused requests neither waits for the bus nor
// piles up goroutines.
type Auditor struct {
	pub     eventsvc.Publisher
	log     zerolog.Logger
	dropLog zerolog.Logger
	opts    AuditorOptions
	dropped prometheus.Counter
	failed  prometheus.Counter

	mu      sync.RWMutex
	running bool
	queue   chan eventsvc.Event
	wg      sync.WaitGroup
}

// NewAuditor returns an auditor publishing with pub.
func NewAuditor(pub eventsvc.Publisher, log zerolog.Logger, opts AuditorOptions) (*Auditor, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4096
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 5 * time.Second
	}
	a := &Auditor{
		pub: pub, log: log, opts: opts,
		dropLog: log.Sample(&zerolog.BurstSampler{Burst: 1, Period: time.Minute}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "stagebus_auth_audit_dropped_total", Help: "Auth audit records dropped because the publish queue was full."}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "stagebus_auth_audit_publish_failures_total", Help: "Auth audit records whose publish to the bus, or commit to the audit log, failed or was not confirmed in time."}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{a.dropped, a.failed} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register auth audit metrics: %w", err)
			}
		}
	}
	return a, nil
}

// Record publishes rec on [AuditTopic] (plugin and timestamp filled in when empty). It
// returns at once when started; see [Auditor].
func (a *Auditor) Record(ctx context.Context, rec AuditRecord) {
	if rec.Plugin == "" {
		rec.Plugin = AuditPlugin
	}
	if rec.Timestamp.IsZero() {
		rec.Timestamp = time.Now()
	}
	rec.Timestamp = rec.Timestamp.UTC()
	payload, err := json.Marshal(rec)
	if err != nil {
		a.log.Error().Err(err).Str("audit_event", rec.EventID).Msg("cannot encode audit record")
		return
	}
	key := rec.Actor.ActorID
	if key == "" {
		key = rec.Actor.IP
	}
	ev := eventsvc.Event{ID: uuid.NewString(), Topic: AuditTopic, Key: key, Payload: payload, Time: rec.Timestamp}
	if a.opts.AuditLog != nil {
		if err := a.opts.AuditLog.Publish(ctx, ev); err != nil {
			a.failed.Inc()
			a.dropLog.Error().Err(err).Str("event_id", ev.ID).Str("audit_event", rec.EventID).Msg("audit record not confirmed by the audit log")
		}
		return
	}
	a.mu.RLock()
	if a.running {
		select {
		case a.queue <- ev:
		default:
			a.dropped.Inc()
			a.dropLog.Error().Str("audit_event", rec.EventID).Msg("audit queue full; dropping audit records")
		}
		a.mu.RUnlock()
		return
	}
	a.mu.RUnlock()
	a.publish(context.WithoutCancel(ctx), ev)
}

func (a *Auditor) publish(ctx context.Context, ev eventsvc.Event) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.PublishTimeout)
	defer cancel()
	if err := a.pub.Publish(ctx, ev); err != nil {
		a.failed.Inc()
		a.log.Error().Err(err).Str("event_id", ev.ID).Msg("cannot publish audit record")
	}
}

// Start starts the publishing workers (none with an audit log).
func (a *Auditor) Start(context.Context) error {
	if a.opts.AuditLog != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return nil
	}
	a.queue = make(chan eventsvc.Event, a.opts.QueueSize)
	a.running = true
	q := a.queue
	for range a.opts.Workers {
		a.wg.Go(func() {
			for ev := range q {
				a.publish(context.Background(), ev)
			}
		})
	}
	return nil
}

// Stop publishes what is queued and stops the workers, waiting until ctx ends at most.
func (a *Auditor) Stop(ctx context.Context) error {
	a.mu.Lock()
	if !a.running {
		a.mu.Unlock()
		return nil
	}
	a.running = false
	close(a.queue)
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.Join(errors.New("auth audit: records still being published when the stop timeout ended"), ctx.Err())
	}
}
