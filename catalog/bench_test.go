package catalog_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/database/databasetest"
)

// benchEntities is the size of the catalog the read benchmarks run on.
const benchEntities = 100_000

// BenchmarkReads100k fills SQLite with 100,000 entities (components of 20 types owned by 500
// teams) and reports the p50/p99 of get-by-ref and of a filtered page of 100. Goals: p50 < 2 ms
// and < 20 ms. Run: go test -run '^$' -bench Reads100k -benchtime 1x ./catalog/
func BenchmarkReads100k(b *testing.B) {
	db := databasetest.SQLite(b, catalog.Migrations)
	model, _ := catalog.NewModel(nil)
	s := catalog.NewStore(db, nopPublisher{}, model, nopLog())
	ctx := context.Background()
	start := time.Now()
	const batch = 2000
	for i := 0; i < benchEntities; i += batch {
		ds := make([]catalog.DeferredEntity, 0, batch)
		for j := i; j < i+batch; j++ {
			e := entity("Component", fmt.Sprintf("service-%06d", j), map[string]any{
				"type": fmt.Sprintf("type-%02d", j%20), "lifecycle": "production", "owner": fmt.Sprintf("team-%03d", j%500),
				"system": fmt.Sprintf("system-%03d", j%200), "dependsOn": []any{fmt.Sprintf("component:service-%06d", (j+1)%benchEntities)},
			})
			e.Metadata.Description = "A service of the benchmark catalog"
			e.Metadata.Annotations = map[string]string{"github.com/project-slug": fmt.Sprintf("acme/service-%06d", j)}
			e.Metadata.Tags = []string{"go", fmt.Sprintf("tier-%d", j%3)}
			ds = append(ds, catalog.DeferredEntity{Entity: e, LocationKey: "bench"})
		}
		if _, err := s.ApplyMutation(ctx, "bench", catalog.Mutation{Type: catalog.Delta, Entities: ds}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d entities in %s", benchEntities, time.Since(start).Round(time.Second))
	// What the database's hourly optimize does after a large import: refresh the planner's
	// statistics.
	if err := db.Optimize(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	measure := func(n int, fn func(i int)) (p50, p99 time.Duration) {
		lat := make([]time.Duration, n)
		for i := range n {
			t0 := time.Now()
			fn(i)
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		return lat[n/2], lat[n*99/100]
	}
	for range b.N {
		g50, g99 := measure(2000, func(i int) {
			ref := catalog.EntityRef{Kind: "component", Namespace: "default", Name: fmt.Sprintf("service-%06d", (i*7919)%benchEntities)}
			if _, err := s.GetByRef(ctx, ref); err != nil {
				b.Fatal(err)
			}
		})
		q50, q99 := measure(200, func(i int) {
			fs, _ := catalog.ParseFilters([]string{fmt.Sprintf("kind=component,spec.type=type-%02d", i%20)})
			page, _, err := s.Query(ctx, catalog.Query{Filters: fs, Order: []catalog.Order{{Field: "metadata.name"}}, Limit: 100, Offset: (i % 10) * 100})
			if err != nil || len(page) != 100 {
				b.Fatalf("page: %d entities, %v", len(page), err)
			}
		})
		b.ReportMetric(float64(g50.Microseconds())/1e3, "get-p50-ms")
		b.ReportMetric(float64(g99.Microseconds())/1e3, "get-p99-ms")
		b.ReportMetric(float64(q50.Microseconds())/1e3, "page-p50-ms")
		b.ReportMetric(float64(q99.Microseconds())/1e3, "page-p99-ms")
	}
}
