package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/kafka"
)

// benchBrokers returns the real broker for benchmarks (they measure a broker, not the fake).
func benchBrokers(b *testing.B) []string {
	return real(b)
}

const publishers = 64

func startService(b *testing.B, cfg kafka.Config, subs ...eventsvc.Subscription) *eventsvc.Service {
	bk, err := kafka.New(cfg, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := eventsvc.New(eventsvc.Options{Backend: bk, Retry: eventsvc.RetryPolicy{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(), Subscriptions: subs})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return svc
}

// parallel runs n calls of fn spread over the publishers and returns the calls per second.
func parallel(n int, fn func(i int) error) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range publishers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// BenchmarkPublish: 64 concurrent synchronous publishes (acks=all) through the EventsService,
// next to a raw kafka-go Writer with the same settings in the same run. Goal: ratio ≥ 0.8.
// Run: PLATFORM_TEST_KAFKA_BROKERS=… go test -run '^$' -bench Publish ./eventsvc/kafka/
func BenchmarkPublish(b *testing.B) {
	brokers := benchBrokers(b)
	n := max(b.N, 5000)
	cfg := testConfig(brokers)
	svc := startService(b, cfg)
	defer svc.Stop(context.Background()) //nolint:errcheck
	payload := make([]byte, 2500)
	ctx := context.Background()
	// Create the topic outside the measurement.
	if err := svc.Publish(ctx, eventsvc.Event{Topic: "bench"}); err != nil {
		b.Fatal(err)
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: kafkago.Murmur2Balancer{}, RequiredAcks: kafkago.RequireAll,
		BatchTimeout: cfg.BatchTimeout, BatchSize: 500}
	defer w.Close()
	// The raw writer learns of the new topic from its own metadata, which may lag.
	deadline := time.Now().Add(10 * time.Second)
	for err := errors.New("not yet"); err != nil; {
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		err = w.WriteMessages(ctx, kafkago.Message{Topic: cfg.TopicPrefix + "bench", Value: payload})
	}
	raw, err := parallel(n, func(i int) error {
		return w.WriteMessages(ctx, kafkago.Message{Topic: cfg.TopicPrefix + "bench", Key: []byte("k" + strconv.Itoa(i%64)), Value: payload})
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	ours, err := parallel(n, func(i int) error {
		return svc.Publish(ctx, eventsvc.Event{Topic: "bench", Key: "k" + strconv.Itoa(i%64), Payload: payload})
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(raw, "raw-events/s")
	b.ReportMetric(ours, "events/s")
	b.ReportMetric(ours/raw, "ratio")
}

// BenchmarkEndToEnd: events already on the topic, consumed by a subscription whose handler
// returns at once (offsets committed after the acknowledgements, at most every
// events.kafka.commitInterval, 100ms), next to a raw kafka-go group Reader that commits after
// handling each message (kafka-go's own batching, every 100ms). Goal: ratio ≥ 0.8.
func BenchmarkEndToEnd(b *testing.B) {
	brokers := benchBrokers(b)
	n := max(b.N, 20000)
	cfg := testConfig(brokers)
	cfg.Partitions = 3
	pub := startService(b, cfg)
	defer pub.Stop(context.Background()) //nolint:errcheck
	ctx := context.Background()
	payload := make([]byte, 2500)
	for _, topic := range []string{"raw", "ours"} {
		if _, err := parallel(n, func(i int) error {
			return pub.Publish(ctx, eventsvc.Event{Topic: topic, Key: "k" + strconv.Itoa(i%64), Payload: payload})
		}); err != nil {
			b.Fatal(err)
		}
	}

	// Each phase runs under a profiler label (phase=raw, phase=ours), inherited by the
	// goroutines it starts, so that a -cpuprofile can be split: pprof -tagfocus phase=ours.
	var raw, rawCPU float64
	rawPhase := func() {
		pprof.Do(ctx, pprof.Labels("phase", "raw"), func(ctx context.Context) {
			r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, GroupID: cfg.GroupPrefix + "raw", Topic: cfg.TopicPrefix + "raw",
				MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 500 * time.Millisecond, CommitInterval: 100 * time.Millisecond, StartOffset: kafkago.FirstOffset})
			defer r.Close()
			start, cpu := time.Now(), cpuTime(b)
			for range n {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.CommitMessages(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			raw = float64(n) / time.Since(start).Seconds()
			rawCPU = (cpuTime(b) - cpu).Seconds() / float64(n)
		})
	}
	var ours, oursCPU float64
	oursPhase := func() {
		pprof.Do(ctx, pprof.Labels("phase", "ours"), func(ctx context.Context) {
			var handled atomic.Int64
			all := make(chan struct{})
			b.StartTimer()
			start, cpu := time.Now(), cpuTime(b)
			svc := startService(b, cfg, eventsvc.Subscription{ID: "ours", Topics: []string{"ours"}, Handler: func(context.Context, eventsvc.Event) error {
				if handled.Add(1) == int64(n) {
					close(all)
				}
				return nil
			}})
			<-all
			ours = float64(n) / time.Since(start).Seconds()
			oursCPU = (cpuTime(b) - cpu).Seconds() / float64(n)
			b.StopTimer()
			svc.Stop(ctx) //nolint:errcheck
		})
	}
	// The side that reads first meets a broker still busy with the topics just filled: the
	// runs of one invocation (-count) take turns going first.
	b.StopTimer()
	b.ResetTimer()
	endToEndRuns++
	if endToEndRuns%2 == 1 {
		rawPhase()
		oursPhase()
	} else {
		oursPhase()
		rawPhase()
	}
	b.ReportMetric(raw, "raw-events/s")
	b.ReportMetric(ours, "events/s")
	b.ReportMetric(ours/raw, "ratio")
	// CPU time per event, of this process only (the broker's is not counted): steadier than
	// the rates on a shared machine.
	b.ReportMetric(rawCPU*1e6, "raw-cpu-us/event")
	b.ReportMetric(oursCPU*1e6, "cpu-us/event")
}

// endToEndRuns counts BenchmarkEndToEnd's runs in this process, to alternate its phases.
var endToEndRuns int

// cpuTime returns the CPU time (user and system) this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublishLatency: one synchronous Publish at a time (acks=all). Goal: p50 < 10 ms.
func BenchmarkPublishLatency(b *testing.B) {
	brokers := benchBrokers(b)
	svc := startService(b, testConfig(brokers))
	defer svc.Stop(context.Background()) //nolint:errcheck
	ctx := context.Background()
	if err := svc.Publish(ctx, eventsvc.Event{Topic: "latency"}); err != nil {
		b.Fatal(err)
	}
	const rounds = 500
	lat := make([]time.Duration, 0, rounds)
	b.ResetTimer()
	for range b.N {
		for i := range rounds {
			start := time.Now()
			if err := svc.Publish(ctx, eventsvc.Event{Topic: "latency", Key: fmt.Sprint(i)}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1e3, "p99-ms")
}
