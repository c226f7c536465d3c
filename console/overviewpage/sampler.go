package overviewpage

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const (
	// sampleEvery is how often the counters are read; the charts' resolution.
	sampleEvery = 15 * time.Second
	// window is how far back the charts go.
	window = time.Hour
	// maxSeries bounds the topics a sample keeps, so that a flood of topics cannot grow
	// memory: the charts show 8.
	maxSeries = 500
)

// The counters the charts are drawn from.
const (
	metricPublished = "stagebus_events_published_total"
	metricIngress   = "stagebus_ingress_requests_total"
	metricOutboxLag = "stagebus_events_outbox_lag_messages"
)

// outcomes group the ingress results (stagebus_ingress_requests_total's result label) into
// the chart's series, in the order drawn.
var outcomes = []string{"accepted", "duplicate", "bad_signature", "too_large", "rate_limited", "failed", "refused"}

// outcomeOf maps a result to its series; unknown results count as refused.
func outcomeOf(result string) string {
	switch result {
	case "accepted", "duplicate", "bad_signature", "too_large", "rate_limited":
		return result
	case "publish_failed":
		return "failed"
	}
	return "refused" // invalid, unsupported_media_type, unknown_topic, pending
}

// sample is the counters' values at one moment.
type sample struct {
	at        time.Time
	published map[string]float64 // by topic
	ingress   map[string]float64 // by outcome
	outboxLag float64
	hasOutbox bool
}

// sampler keeps the last hour of samples of this process's counters. The charts are per
// instance and start with the process.
type sampler struct {
	gather  prometheus.Gatherer
	now     func() time.Time
	started time.Time

	mu      sync.Mutex
	samples []sample // oldest first, at most window/sampleEvery+1
}

func newSampler(g prometheus.Gatherer, now func() time.Time) *sampler {
	return &sampler{gather: g, now: now, started: now()}
}

// take reads the counters and keeps the sample.
func (s *sampler) take(context.Context) error {
	smp, err := s.read()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, smp)
	if keep := int(window/sampleEvery) + 1; len(s.samples) > keep {
		s.samples = append(s.samples[:0:0], s.samples[len(s.samples)-keep:]...)
	}
	return nil
}

// read gathers the registry once.
func (s *sampler) read() (sample, error) {
	families, err := s.gather.Gather()
	smp := sample{at: s.now(), published: map[string]float64{}, ingress: map[string]float64{}}
	if err != nil && len(families) == 0 {
		return smp, err
	}
	for _, f := range families {
		switch f.GetName() {
		case metricPublished:
			for _, m := range f.GetMetric() {
				if t := label(m, "topic"); len(smp.published) < maxSeries || smp.published[t] != 0 {
					smp.published[t] += m.GetCounter().GetValue()
				}
			}
		case metricIngress:
			for _, m := range f.GetMetric() {
				smp.ingress[outcomeOf(label(m, "result"))] += m.GetCounter().GetValue()
			}
		case metricOutboxLag:
			for _, m := range f.GetMetric() {
				smp.outboxLag += m.GetGauge().GetValue()
				smp.hasOutbox = true
			}
		}
	}
	return smp, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// history returns the kept samples and one taken now, oldest first.
func (s *sampler) history() ([]sample, error) {
	now, err := s.read()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(append([]sample(nil), s.samples...), now), nil
}

// rates turns samples into per-minute rates of each key chosen by pick, plotted at the end
// of each interval.
type point struct {
	at   time.Time
	rate float64
}

func rates(samples []sample, pick func(sample) map[string]float64, key string) []point {
	var out []point
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		d := b.at.Sub(a.at).Minutes()
		if d <= 0 {
			continue
		}
		out = append(out, point{at: b.at, rate: max(0, pick(b)[key]-pick(a)[key]) / d})
	}
	return out
}

// topTopics returns the topics with the most events in the window, at most n, by count.
func topTopics(samples []sample, n int) (top []string, rest []string) {
	if len(samples) < 2 {
		return nil, nil
	}
	first, last := samples[0].published, samples[len(samples)-1].published
	var topics []string
	for t, v := range last {
		if v-first[t] > 0 {
			topics = append(topics, t)
		}
	}
	sort.Slice(topics, func(i, j int) bool {
		di, dj := last[topics[i]]-first[topics[i]], last[topics[j]]-first[topics[j]]
		if di != dj {
			return di > dj
		}
		return topics[i] < topics[j]
	})
	if len(topics) > n {
		return topics[:n], topics[n:]
	}
	return topics, nil
}
