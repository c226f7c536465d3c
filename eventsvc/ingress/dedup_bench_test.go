package ingress_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// BenchmarkDedup measures claims (and their confirms) per second from 64 concurrent
// requests on SQLite, the group-committed write that is on ingestion's hot path.
func BenchmarkDedup(b *testing.B) {
	db, err := database.Open(database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: filepath.Join(b.TempDir(), "d.db")}}, ingress.DedupMigrations, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	d := ingress.NewDedup(db, 72*time.Hour, zerolog.Nop(), nil)
	_ = d.Start(context.Background())
	defer d.Stop(context.Background()) //nolint:errcheck
	var n atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				id := fmt.Sprint(i)
				if _, err := d.Claim(context.Background(), "github", id); err != nil {
					b.Error(err)
					return
				}
				d.Confirm("github", id)
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "claims/s")
}
