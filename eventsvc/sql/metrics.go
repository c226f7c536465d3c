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
	var err error
	if m.published, err = promreg.Register(reg, m.published); err != nil {
		return nil, err
	}
	if m.behindRetention, err = promreg.Register(reg, m.behindRetention); err != nil {
		return nil, err
	}
	m.onceKeys, err = promreg.Register(reg, m.onceKeys)
	return m, err
}
