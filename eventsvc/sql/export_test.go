package sqlbus

import (
	"context"
	"time"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

// SetClock sets the purge's clock, for tests.
func (b *Bus) SetClock(now func() time.Time) { b.clock = now }

// GroupPublish is one publish of a group commit: a PublishBatch, or a PublishOnce when Once is
// set.
type GroupPublish struct {
	Once  *eventsvc.Once
	Batch []eventsvc.Outgoing
}

// CommitGroup runs one group commit of the publishes, as the committer does with publishes
// that arrive together, and returns each publish's result.
func (b *Bus) CommitGroup(ctx context.Context, publishes ...GroupPublish) []error {
	group := make([]*commitReq, len(publishes))
	for i, p := range publishes {
		group[i] = &commitReq{ctx: ctx, once: p.Once, rows: toRows(p.Batch, b.db.Dialect() == database.SQLite), done: make(chan error, 1)}
	}
	b.commitGroup(group)
	out := make([]error, len(group))
	for i, r := range group {
		out[i] = <-r.done
	}
	return out
}

// RelayGroup is the outbox relay's consumer group in bus_offsets.
const RelayGroup = relayGroup
