package discovery_test

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkWebhookToVisible measures the time from a signed github.push being accepted (202)
// to the entity it adds being returned by the catalog API, on the memory bus with SQLite.
// Goal: p50 < 100 ms. Run: go test -run '^$' -bench WebhookToVisible ./providers/github/
func BenchmarkWebhookToVisible(b *testing.B) {
	gh := newFakeGitHub(b)
	s := startCatalogStack(b, gh)
	const rounds = 200
	lat := make([]time.Duration, 0, rounds)
	b.ResetTimer()
	for range b.N {
		for i := range rounds {
			name := fmt.Sprintf("svc-%d-%d", len(lat), i)
			gh.set(name, "catalog-info.yaml", componentYAML(name, "team-a"))
			start := time.Now()
			s.webhook("push", push(name, []string{"catalog-info.yaml"}, nil, nil))
			for s.entity(name) == nil {
				time.Sleep(200 * time.Microsecond)
				if time.Since(start) > 10*time.Second {
					b.Fatalf("%s never became visible", name)
				}
			}
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1e3, "p99-ms")
}
