package sqlbus

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names.
const (
	MetricPublished       = "stagebus_events_sql_published_total"
	MetricBehindRetention = "stagebus_events_sql_behind_retention_total"
	MetricOnceKeys        = "stagebus_events_sql_once_keys"
)

type metrics struct {
	published       *prometheus.CounterVec
	behindRetention *prometheus.CounterVec
	onceKeys        prometheus.Gauge
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
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.published, err = register(reg, m.published)
	if err != nil {
		return nil, err
	}
	if m.behindRetention, err = register(reg, m.behindRetention); err != nil {
		return nil, err
	}
	m.onceKeys, err = register(reg, m.onceKeys)
	return m, err
}

// register registers c, or returns the collector registered before under its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
