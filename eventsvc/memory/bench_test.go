package memory_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/memory"
)

// latencies collects publish→handler delays.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// flood is one throughput measurement: n events published as fast as one publisher can,
// until every subscription handled all of them.
type flood struct {
	eventsPerSec float64
}

// rawGoChannel measures Watermill's GoChannel alone: subs subscribers that ack at once.
func rawGoChannel(b *testing.B, n, subs int) *flood {
	gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024}, watermill.NopLogger{})
	defer gc.Close()
	res := &flood{}
	var wg sync.WaitGroup
	for range subs {
		ch, err := gc.Subscribe(context.Background(), "bench")
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got := 0; got < n; got++ {
				(<-ch).Ack()
			}
		}()
	}
	start := time.Now()
	for i := range n {
		if err := gc.Publish("bench", message.NewMessage(strconv.Itoa(i), []byte("payload"))); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	res.eventsPerSec = float64(n) / time.Since(start).Seconds()
	return res
}

// stagebus measures the whole EventsService on the memory bus: subs subscriptions with
// handlers that return at once, events spread over 64 keys.
func stagebus(b *testing.B, n, subs int) *flood {
	svc, err := eventsvc.New(eventsvc.Options{
		Backend: memory.New(memory.Config{}, zerolog.Nop()), Retry: eventsvc.RetryPolicy{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	res := &flood{}
	var handled atomic.Int64
	all := make(chan struct{})
	total := int64(n * subs)
	for i := range subs {
		err := svc.Declare(eventsvc.Subscription{ID: fmt.Sprintf("bench-%d", i), Topics: []string{"bench"}, Handler: func(context.Context, eventsvc.Event) error {
			if handled.Add(1) == total {
				close(all)
			}
			return nil
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer svc.Stop(ctx) //nolint:errcheck
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = "repo-" + strconv.Itoa(i)
	}
	start := time.Now()
	for i := range n {
		if err := svc.Publish(ctx, eventsvc.Event{Topic: "bench", Key: keys[i%len(keys)], Payload: []byte("payload")}); err != nil {
			b.Fatal(err)
		}
	}
	<-all
	res.eventsPerSec = float64(n) / time.Since(start).Seconds()
	return res
}

// pingRounds is how many single events the latency measurement sends, one at a time.
const pingRounds = 2000

// rawPing measures GoChannel's publish→subscriber latency with one event in flight at a time.
func rawPing(b *testing.B) *latencies {
	gc := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	defer gc.Close()
	ch, err := gc.Subscribe(context.Background(), "ping")
	if err != nil {
		b.Fatal(err)
	}
	lat := &latencies{}
	for i := range pingRounds {
		start := time.Now()
		if err := gc.Publish("ping", message.NewMessage(strconv.Itoa(i), nil)); err != nil {
			b.Fatal(err)
		}
		m := <-ch
		m.Ack()
		lat.add(time.Since(start))
	}
	return lat
}

// stagebusPing measures the EventsService's publish→handler latency, one event at a time.
func stagebusPing(b *testing.B) *latencies {
	svc, err := eventsvc.New(eventsvc.Options{
		Backend: memory.New(memory.Config{}, zerolog.Nop()), Retry: eventsvc.RetryPolicy{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
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
	lat := &latencies{}
	for range pingRounds {
		start := time.Now()
		if err := svc.Publish(ctx, eventsvc.Event{Topic: "ping", Key: "k"}); err != nil {
			b.Fatal(err)
		}
		<-got
		lat.add(time.Since(start))
	}
	return lat
}

// rounds of each measurement per benchmark iteration; the medians are reported, because raw
// GoChannel's throughput swings widely from run to run on two cores.
const rounds = 5

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkPublishToHandler reports publish→handler throughput of the EventsService on the
// memory bus next to raw Watermill GoChannel measured in the same run (alternating rounds,
// medians), and their ratio (goal ≥ 0.5). Run: make bench.
func BenchmarkPublishToHandler(b *testing.B) {
	for _, subs := range []int{1, 8} {
		b.Run(fmt.Sprintf("subscriptions=%d", subs), func(b *testing.B) {
			n := max(b.N/rounds, 1000)
			var raw, ours []float64
			for range rounds {
				b.StopTimer()
				raw = append(raw, rawGoChannel(b, n, subs).eventsPerSec)
				b.StartTimer()
				ours = append(ours, stagebus(b, n, subs).eventsPerSec)
			}
			b.ReportMetric(median(raw), "raw-events/s")
			b.ReportMetric(median(ours), "events/s")
			b.ReportMetric(median(ours)/median(raw), "ratio")
		})
	}
}

// BenchmarkLatency reports the publish→handler latency of one event at a time (p50, p99),
// for the EventsService on the memory bus and for raw GoChannel in the same run.
func BenchmarkLatency(b *testing.B) {
	for range b.N {
		raw := rawPing(b)
		ours := stagebusPing(b)
		b.ReportMetric(float64(raw.quantile(0.5).Nanoseconds())/1e3, "raw-p50-µs")
		b.ReportMetric(float64(raw.quantile(0.99).Nanoseconds())/1e3, "raw-p99-µs")
		b.ReportMetric(float64(ours.quantile(0.5).Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(ours.quantile(0.99).Nanoseconds())/1e3, "p99-µs")
		b.ReportMetric(float64(ours.quantile(0.5))/float64(raw.quantile(0.5)), "p50-ratio")
	}
}
