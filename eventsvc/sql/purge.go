package sqlbus

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Purge deletes the messages older than events.sql.retention with the handled-at marks no
// stored message needs any more (purgeMarks), the expired keys of publishes made once, and
// the memberships of instances that vanished an hour ago. Consumer groups that had not
// handled some of them, and the outbox's relay if it had not published some, are reported first — counted in [MetricBehindRetention] and logged —
// so that nothing is skipped silently.
func (b *Bus) Purge(ctx context.Context) error {
	cutoff := b.now().Add(-b.cfg.Retention).UnixNano()
	rows, err := b.db.QueryContext(ctx, `SELECT o.grp, o.topic, COUNT(*) FROM bus_offsets o
		JOIN bus_messages m ON m.topic = o.topic AND m.part = o.part AND m.seq > o.acked
		WHERE m.created_at < $1 GROUP BY o.grp, o.topic`, cutoff)
	if err != nil {
		return fmt.Errorf("events.sql: purge: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var group, topic string
		var n int64
		if err := rows.Scan(&group, &topic, &n); err != nil {
			return fmt.Errorf("events.sql: purge: %w", err)
		}
		b.metrics.behindRetention.WithLabelValues(topic, group).Add(float64(n))
		b.log.Warn().Str("group", group).Str("topic", topic).Int64("messages", n).Dur("retention", b.cfg.Retention).
			Msg("events.sql: a subscription fell behind retention: messages it had not handled are purged")
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("events.sql: purge: %w", err)
	}
	rows.Close()
	var unrelayed int64
	if err := b.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bus_messages m JOIN bus_offsets o ON o.grp = $1 AND o.topic = '' AND o.part = 0
		WHERE m.seq > o.acked AND m.created_at < $2`, relayGroup, cutoff).Scan(&unrelayed); err != nil {
		return fmt.Errorf("events.sql: purge: %w", err)
	}
	if unrelayed > 0 {
		b.metrics.behindRetention.WithLabelValues("", "outbox-relay").Add(float64(unrelayed))
		b.log.Warn().Int64("messages", unrelayed).Dur("retention", b.cfg.Retention).
			Msg("events.sql: the outbox's relay fell behind retention: messages it had not published are purged")
	}
	if _, err := b.db.ExecContext(ctx, `DELETE FROM bus_messages WHERE created_at < $1`, cutoff); err != nil {
		return fmt.Errorf("events.sql: purge: %w", err)
	}
	if err := b.purgeMarks(ctx); err != nil {
		return fmt.Errorf("events.sql: purge: %w", err)
	}
	if _, err := b.db.ExecContext(ctx, `DELETE FROM bus_once WHERE expires_at < $1`, b.now().UnixNano()); err != nil {
		return fmt.Errorf("events.sql: purge: %w", err)
	}
	if b.once != nil {
		if err := b.once.evict(ctx, b.db); err != nil {
			return err
		}
	}
	// Members that stopped renewing an hour ago are gone (killed instances).
	if _, err := b.db.ExecContext(ctx, `DELETE FROM bus_members WHERE seen_until < $1`, b.now().Add(-time.Hour).UnixNano()); err != nil {
		return fmt.Errorf("events.sql: purge: %w", err)
	}
	return nil
}

// now is the clock of the retention purge.
func (b *Bus) now() time.Time {
	if b.clock != nil {
		return b.clock()
	}
	return time.Now()
}

// purgeMarks deletes, per consumer group, topic and partition, the handled-at marks below the
// partition's oldest message left: a message's time is read from its group's first mark at
// or past it, so no lookup reads those again, and the newest mark need not be kept either —
// the next mark carries the watermark it starts from (prev) itself. They include every mark
// older than the retention, since the messages such a mark passed were older still (up to
// the clocks' disagreement between instances); a partition with no message left loses all
// its marks, as later messages have higher sequence numbers. One short statement per
// partition, each a range of bus_marks' primary key, so that none holds SQLite's write lock
// for long; messages published meanwhile only raise the bound.
func (b *Bus) purgeMarks(ctx context.Context) error {
	rows, err := b.db.QueryContext(ctx, `SELECT grp, topic, part FROM bus_offsets WHERE grp <> $1`, relayGroup)
	if err != nil {
		return err
	}
	defer rows.Close()
	type partition struct {
		group, topic string
		part         int
	}
	var parts []partition
	for rows.Next() {
		var p partition
		if err := rows.Scan(&p.group, &p.topic, &p.part); err != nil {
			return err
		}
		parts = append(parts, p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	for _, p := range parts {
		if _, err := b.db.ExecContext(ctx, `DELETE FROM bus_marks WHERE grp = $1 AND topic = $2 AND part = $3
			AND acked < COALESCE((SELECT MIN(seq) FROM bus_messages WHERE topic = $2 AND part = $3), $4)`,
			p.group, p.topic, p.part, int64(math.MaxInt64)); err != nil {
			return err
		}
	}
	return nil
}
