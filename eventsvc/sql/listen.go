package sqlbus

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/stagebus/stagebus/internal/background"
)

// listen keeps one PostgreSQL connection that LISTENs for publishes and lease releases of
// other instances and wakes this process's readers, until ctx ends; it reconnects after
// failures.
func (h *hub) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		err := h.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		h.log.Warn().Err(err).Dur("retry_in", backoff).Msg("events.sql: LISTEN connection lost; polling every events.sql.pollInterval meanwhile")
		if background.Sleep(ctx, backoff) != nil {
			return
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (h *hub) listenOnce(ctx context.Context) error {
	conn, err := h.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection: %T", dc)
		}
		pc := sc.Conn()
		// The connection is closed, not returned to the pool, so that it never hands a
		// LISTENing session to other code.
		defer pc.Close(context.Background()) //nolint:errcheck
		if _, err := pc.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
			return err
		}
		h.wakeAll() // publishes may have been missed while not listening
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			h.wake(n.Payload)
		}
	})
}
