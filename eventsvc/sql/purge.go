package sqlbus

import (
	"context"
	"fmt"
	"time"
)

// Purge deletes the messages older than events.sql.retention, the expired keys of publishes
// made once, and the memberships of instances that vanished an hour ago. Consumer groups that had not
// handled some of them are reported first — counted in [MetricBehindRetention] and logged —
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
	if _, err := b.db.ExecContext(ctx, `DELETE FROM bus_messages WHERE created_at < $1`, cutoff); err != nil {
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
