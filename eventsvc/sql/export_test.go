package sqlbus

import (
	"context"
	"time"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

// SetClock sets the purge's clock, for tests.
func (b *Bus) SetClock(now func() time.Time) { b.clock = now }

// CommitGroup runs one group commit of the batches, as the committer does with publishes
// that arrive together, and returns each batch's result.
func (b *Bus) CommitGroup(ctx context.Context, batches ...[]eventsvc.Outgoing) []error {
	group := make([]*commitReq, len(batches))
	for i, batch := range batches {
		rows, err := toRows(batch, b.db.Dialect() == database.SQLite)
		if err != nil {
			panic(err)
		}
		group[i] = &commitReq{ctx: ctx, rows: rows, done: make(chan error, 1)}
	}
	b.commitGroup(group)
	out := make([]error, len(group))
	for i, r := range group {
		out[i] = <-r.done
	}
	return out
}
