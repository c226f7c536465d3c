package kafka

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stagebus/stagebus/internal/promreg"
)

// MetricDuplicatesSkipped counts records a subscription skipped because it had been handed
// their event id within events.kafka.dedupWindow.
const MetricDuplicatesSkipped = "stagebus_events_kafka_duplicates_skipped_total"

// newDuplicates registers the duplicates counter on reg (nil: none); buses sharing a registry
// share it.
func newDuplicates(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricDuplicatesSkipped,
		Help: "Kafka records skipped because their subscription was handed the same event id within events.kafka.dedupWindow, by topic and consumer group."},
		[]string{"topic", "group"})
	return promreg.Register(reg, c)
}
