package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/kafka"
)

// TestDuplicateRecordsAreSkipped writes every record twice, as a retried write does, and
// checks that a subscription handles each event once and counts the copies it skipped —
// or, with the window off, handles both.
func TestDuplicateRecordsAreSkipped(t *testing.T) {
	const n = 40
	for _, c := range clusters(t) {
		tests := []struct {
			name        string
			window      time.Duration
			wantHandled int
			wantSkipped float64
		}{
			{"window on", time.Minute, n, n},
			{"window off", 0, 2 * n, 0},
		}
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				cfg := testConfig(c.brokers)
				cfg.DedupWindow = tt.window
				reg := prometheus.NewRegistry()
				b, err := kafka.New(cfg, zerolog.Nop(), reg)
				require.NoError(t, err)
				var got handledSet
				svc, err := eventsvc.New(eventsvc.Options{
					Backend: b, Retry: eventsvc.RetryPolicy{MaxAttempts: 3, InitialInterval: 5 * time.Millisecond, MaxInterval: 10 * time.Millisecond},
					DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
					Subscriptions: []eventsvc.Subscription{{ID: "dedup", Topics: []string{"pushes"}, Handler: func(_ context.Context, e eventsvc.Event) error {
						got.add(e.ID)
						return nil
					}}},
				})
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				require.NoError(t, svc.Start(ctx))
				t.Cleanup(func() { _ = svc.Stop(context.Background()) })

				msgs := make([]*message.Message, n)
				for i := range msgs {
					msgs[i] = message.NewMessage(fmt.Sprintf("delivery-%d", i), []byte(`{}`))
					msgs[i].Metadata.Set(eventsvc.MetaKeyHeader, fmt.Sprintf("repo-%d", i%5))
				}
				require.NoError(t, b.Publish("pushes", msgs...))
				require.NoError(t, b.Publish("pushes", msgs...)) // the retried write

				require.Eventually(t, func() bool {
					return got.total() >= tt.wantHandled && skipped(t, reg) >= tt.wantSkipped
				}, 30*time.Second, 20*time.Millisecond, "handled %d, skipped %v", got.total(), skipped(t, reg))
				require.Equal(t, n, got.distinct())
				require.Equal(t, tt.wantHandled, got.total())
				require.Equal(t, tt.wantSkipped, skipped(t, reg))
			})
		}
	}
}

// skipped sums the duplicates counter over its series.
func skipped(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == kafka.MetricDuplicatesSkipped {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
