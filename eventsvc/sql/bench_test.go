package sqlbus_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/memory"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// pingRounds is how many single events a latency measurement sends, one at a time.
const pingRounds = 1000

// ping measures the EventsService's publish→handler latency on backend, one event at a time.
func ping(b *testing.B, backend eventsvc.Backend) []time.Duration {
	svc, err := eventsvc.New(eventsvc.Options{
		Backend: backend, Retry: eventsvc.RetryPolicy{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{})
	if err := svc.Declare(eventsvc.Subscription{ID: "ping", Topics: []string{"ping"}, Handler: func(context.Context, eventsvc.Event) error {
		got <- struct{}{}
		return nil
	}}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer svc.Stop(ctx) //nolint:errcheck
	lat := make([]time.Duration, 0, pingRounds)
	for range pingRounds {
		start := time.Now()
		if err := svc.Publish(ctx, eventsvc.Event{Topic: "ping", Key: "k"}); err != nil {
			b.Fatal(err)
		}
		<-got
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat
}

func quantile(s []time.Duration, q float64) time.Duration { return s[int(q*float64(len(s)-1))] }

// BenchmarkLatency reports the publish→handler latency of one event at a time (p50, p99)
// through the EventsService on the SQL bus — publish committed, reader woken in process — on
// a SQLite file and on the test PostgreSQL, next to the memory bus measured in the same run,
// and the p50 ratio. Goal on SQLite: p50 < 5 ms. Run: make bench.
func BenchmarkLatency(b *testing.B) {
	cfg := testConfig()
	cfg.PollInterval = time.Minute // only the wake-up can be fast
	cfg.LeaseTimeout = time.Minute
	for _, dialect := range []struct {
		name string
		db   func(testing.TB, []database.Migration) *database.DB
	}{{"sqlite", databasetest.SQLite}, {"postgres", databasetest.Postgres}} {
		b.Run(dialect.name, func(b *testing.B) {
			for range b.N {
				mem := ping(b, memory.New(memory.Config{}, zerolog.Nop()))
				bus, err := sqlbus.New(dialect.db(b, sqlbus.Migrations), cfg, zerolog.Nop(), nil)
				if err != nil {
					b.Fatal(err)
				}
				ours := ping(b, bus)
				b.ReportMetric(float64(quantile(mem, 0.5).Nanoseconds())/1e3, "memory-p50-µs")
				b.ReportMetric(float64(quantile(ours, 0.5).Nanoseconds())/1e3, "p50-µs")
				b.ReportMetric(float64(quantile(ours, 0.99).Nanoseconds())/1e3, "p99-µs")
				b.ReportMetric(float64(quantile(ours, 0.5))/float64(quantile(mem, 0.5)), "p50-ratio")
			}
		})
	}
}
