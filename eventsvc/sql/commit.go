package sqlbus

import (
	"context"
	"runtime"
	"time"

	"github.com/stagebus/stagebus/eventsvc"
)

// maxGroup bounds the messages one group commit writes.
const maxGroup = 256

// groupTimeout bounds a group commit's transaction; a request's own context bounds its retry
// alone.
const groupTimeout = 30 * time.Second

// commitReq is one PublishBatch or PublishOnce waiting for the group committer.
type commitReq struct {
	ctx  context.Context
	once *eventsvc.Once // nil for PublishBatch
	rows []row
	done chan error // buffered: the committer never waits for the caller
}

// commitLoop is the group committer: it takes the publishes that arrive together and writes
// them in one transaction, so that concurrent publishers share one commit (on SQLite, one
// fsync; on PostgreSQL, one round trip) instead of queueing on the database's write lock (the
// advisory lock on PostgreSQL) one transaction each. After taking a request it yields the
// processor a few times, draining what arrived meanwhile — waiting by yielding rather than
// sleeping, which measured best for durable ingestion on two cores. If the group's
// transaction fails, each request is written again in a transaction of its own, so that one
// bad message cannot fail its neighbours; the outcomes are those of the requests written one
// after the other in the group's order (see Bus.write). On Close it answers what is still
// queued with ErrClosed.
func (b *Bus) commitLoop() {
	for {
		var first *commitReq
		select {
		case first = <-b.commits:
		case <-b.quit:
			for {
				select {
				case r := <-b.commits:
					r.done <- eventsvc.ErrClosed
				default:
					return
				}
			}
		}
		group, n := []*commitReq{first}, len(first.rows)
		for yields := 0; yields < 10 && n < maxGroup; yields++ {
			took := false
			for n < maxGroup {
				select {
				case r := <-b.commits:
					group, n, took = append(group, r), n+len(r.rows), true
					continue
				default:
				}
				break
			}
			if !took && yields > 0 {
				break
			}
			runtime.Gosched()
		}
		b.commitGroup(group)
	}
}

// commitGroup writes the group's live requests together, or one by one if that fails, and
// answers each.
func (b *Bus) commitGroup(group []*commitReq) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		live[0].done <- b.writeAlone(live[0])
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	outcomes, err := b.write(ctx, live)
	cancel()
	for i, r := range live {
		if err == nil {
			r.done <- outcomes[i]
			continue
		}
		r.done <- b.writeAlone(r)
	}
}

// writeAlone writes one request in a transaction of its own and returns its outcome.
func (b *Bus) writeAlone(r *commitReq) error {
	outcomes, err := b.write(r.ctx, []*commitReq{r})
	if err != nil {
		return err
	}
	return outcomes[0]
}
