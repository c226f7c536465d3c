package sqlbus

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stagebus/stagebus/internal/promreg"
)

// Metric names.
const (
	MetricPublished       = "stagebus_events_sql_published_total"
	MetricBehindRetention = "stagebus_events_sql_behind_retention_total"
	MetricOnceKeys        = "stagebus_events_sql_once_keys"
	MetricOutboxLag       = "stagebus_events_outbox_lag_messages"
	MetricOutboxLagAge    = "stagebus_events_outbox_lag_seconds"
	MetricOutboxRelayed   = "stagebus_events_outbox_relayed_total"
	MetricOutboxFailures  = "stagebus_events_outbox_relay_failures_total"
)

type metrics struct {
	published       *prometheus.CounterVec
	behindRetention *prometheus.CounterVec
	onceKeys        prometheus.Gauge
	// The outbox's relay (see Bus.Relay).
	lagMessages   prometheus.Gauge
	lagSeconds    prometheus.Gauge
	relayed       prometheus.Counter
	relayFailures prometheus.Counter
}

// newMetrics registers the bus metrics on reg (nil: none); buses sharing a registry share
// them.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricPublished,
			Help: "Messages stored on the SQL events bus, by topic."}, []string{"topic"}),
		behindRetention: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricBehindRetention,
			Help: "Messages purged by retention before a consumer group had handled them, by topic and group."}, []string{"topic", "group"}),
		onceKeys: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricOnceKeys,
			Help: "Keys of publishes made once (webhook delivery ids) that the bus indexes in memory, on SQLite: about 30 bytes each."}),
		lagMessages: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricOutboxLag,
			Help: "Messages stored in the outbox that its relay has not published yet (measured at most every second)."}),
		lagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricOutboxLagAge,
			Help: "Age in seconds of the oldest message the outbox's relay has not published yet (0 when none)."}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricOutboxRelayed,
			Help: "Messages the outbox's relay published."}),
		relayFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricOutboxFailures,
			Help: "Passes of the outbox's relay that failed (the target bus refused or did not answer); each is retried."}),
	}
	var err error
	if m.published, err = promreg.Register(reg, m.published); err != nil {
		return nil, err
	}
	if m.behindRetention, err = promreg.Register(reg, m.behindRetention); err != nil {
		return nil, err
	}
	for _, g := range []*prometheus.Gauge{&m.onceKeys, &m.lagMessages, &m.lagSeconds} {
		if *g, err = promreg.Register(reg, *g); err != nil {
			return nil, err
		}
	}
	for _, c := range []*prometheus.Counter{&m.relayed, &m.relayFailures} {
		if *c, err = promreg.Register(reg, *c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
