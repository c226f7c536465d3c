package eventsvc

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the bus's Prometheus series, per topic and subscription.
type metrics struct {
	published    *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	errors       *prometheus.CounterVec
	retries      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	sub := []string{"topic", "subscription"}
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebus_events_published_total", Help: "Events published, by topic.",
		}, []string{"topic"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebus_events_delivered_total", Help: "Events a subscription's handler handled successfully.",
		}, sub),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebus_events_handler_errors_total", Help: "Handler calls that failed (errors and panics).",
		}, sub),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebus_events_retries_total", Help: "Handler calls that were retries of a failed call.",
		}, sub),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebus_events_dead_lettered_total", Help: "Events written to the dead-letter store after their last attempt.",
		}, sub),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stagebus_events_handler_duration_seconds",
			Help:    "Duration of handler calls, each attempt counted.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, sub),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stagebus_events_in_flight", Help: "Events a subscription is handling now, retry waits included.",
		}, sub),
	}
	for _, c := range []prometheus.Collector{m.published, m.delivered, m.errors, m.retries, m.deadLettered, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register events metrics: %w", err)
		}
	}
	return m, nil
}

// subscriptionMetrics are one subscription's series for one topic, looked up once.
type subscriptionMetrics struct {
	delivered, errors, retries, deadLettered prometheus.Counter
	duration                                 prometheus.Observer
	inFlight                                 prometheus.Gauge
}

func (m *metrics) forSubscription(topic, subscription string) *subscriptionMetrics {
	return &subscriptionMetrics{
		delivered:    m.delivered.WithLabelValues(topic, subscription),
		errors:       m.errors.WithLabelValues(topic, subscription),
		retries:      m.retries.WithLabelValues(topic, subscription),
		deadLettered: m.deadLettered.WithLabelValues(topic, subscription),
		duration:     m.duration.WithLabelValues(topic, subscription),
		inFlight:     m.inFlight.WithLabelValues(topic, subscription),
	}
}
