package ingress

import (
	"context"
	"time"
)

// SetClock replaces the ingress clock, for tests of time-dependent checks.
func SetClock(in *Ingress, now func() time.Time) { in.now = now }

// ClaimBatch claims ids as one group-commit batch, as the writer does with claims that arrive
// together, and returns each claim's outcome and error. The writer need not run.
func ClaimBatch(d *Dedup, topic string, ids ...string) ([]Claim, []error) {
	ops := make([]*op, len(ids))
	for i, id := range ids {
		ops[i] = &op{kind: opClaim, topic: topic, id: id, ctx: context.Background(), done: make(chan struct{})}
	}
	d.run(ops)
	claims, errs := make([]Claim, len(ids)), make([]error, len(ids))
	for i, o := range ops {
		claims[i], errs[i] = o.claim, o.err
	}
	return claims, errs
}

// ConfirmBatch confirms ids as one group-commit batch of fire-and-forget confirmations, and
// returns each one's error.
func ConfirmBatch(d *Dedup, topic string, ids ...string) []error {
	ops := make([]*op, len(ids))
	for i, id := range ids {
		ops[i] = &op{kind: opConfirm, topic: topic, id: id, ctx: context.Background()}
	}
	d.run(ops)
	errs := make([]error, len(ids))
	for i, o := range ops {
		errs[i] = o.err
	}
	return errs
}
