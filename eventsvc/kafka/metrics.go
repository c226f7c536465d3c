package kafka

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return c, nil
}
