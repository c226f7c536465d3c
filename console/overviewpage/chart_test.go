package overviewpage

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestSampler: the counters of the registry become per-minute rates by topic and by
// outcome, with the outcomes grouped, and at most an hour of samples is kept.
func TestSampler(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	published := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPublished}, []string{"topic"})
	ingress := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricIngress}, []string{"topic", "result"})
	reg.MustRegister(published, ingress)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := newSampler(reg, func() time.Time { return now })
	for i := range 300 {
		published.WithLabelValues("github").Add(30) // 2 a second
		published.WithLabelValues("github.push").Add(float64(i % 2 * 30))
		ingress.WithLabelValues("github", "accepted").Add(15)
		ingress.WithLabelValues("github", "publish_failed").Add(1)
		ingress.WithLabelValues("github", "unknown_topic").Add(1)
		now = now.Add(sampleEvery)
		require.NoError(t, s.take(t.Context()))
	}
	s.mu.Lock()
	require.Len(t, s.samples, int(window/sampleEvery)+1)
	s.mu.Unlock()
	samples, err := s.history()
	require.NoError(t, err)

	c := publishedChart(samples, now)
	require.Len(t, c.Series, 2)
	require.Equal(t, "github", c.Series[0].Label)
	require.InDelta(t, 120, c.Series[0].Last, 0.01) // 30 per 15 s
	require.InDelta(t, 240*30, c.Series[0].Total, 0.01)
	require.Equal(t, float64(200), c.YMax)
	require.Len(t, c.Series[0].Dots, 240)

	in := ingressChart(samples, now)
	byLabel := map[string]series{}
	for _, s := range in.Series {
		byLabel[s.Label] = s
	}
	require.InDelta(t, 60, byLabel["overview.outcome.accepted"].Last, 0.01)
	require.InDelta(t, 4, byLabel["overview.outcome.failed"].Last, 0.01)
	require.InDelta(t, 4, byLabel["overview.outcome.refused"].Last, 0.01)
	require.Zero(t, byLabel["overview.outcome.duplicate"].Total)
}

// TestTopTopics: the busiest seven topics get lines, the rest one line together.
func TestTopTopics(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	first := sample{at: at, published: map[string]float64{}}
	last := sample{at: at.Add(time.Minute), published: map[string]float64{}}
	for i, topic := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		last.published[topic] = float64(10 - i)
	}
	c := publishedChart([]sample{first, last}, last.at)
	require.Len(t, c.Series, 8)
	require.Equal(t, "a", c.Series[0].Label)
	require.Equal(t, "overview.other_topics", c.Series[7].Label)
	require.True(t, c.Series[7].Key)
	require.Equal(t, float64(3+2), c.Series[7].Total) // h and i
}

func TestNiceCeil(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {0.4, 1}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {11, 20}, {120, 200}, {501, 1000}} {
		require.Equal(t, tc.want, niceCeil(tc.in), "niceCeil(%v)", tc.in)
	}
}
