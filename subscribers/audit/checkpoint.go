package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/internal/background"
)

// CheckpointTopic is the topic checkpoints are published on.
const CheckpointTopic = "auth.audit.checkpoint"

// Checkpoint is the chain's head at one moment: how many rows it had and the hash of the
// last one (GenesisHash when empty). Kept outside the database — in the logs, on the bus, in
// a metrics store, on paper — it lets [Verify] find a log that was truncated below Rows or
// rewritten up to row Rows since. Its text form is "ROWS:HASH".
type Checkpoint struct {
	Rows int64     `json:"rows"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// String returns "ROWS:HASH", the form [ParseCheckpoint] reads.
func (c Checkpoint) String() string { return strconv.FormatInt(c.Rows, 10) + ":" + c.Hash }

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseCheckpoint reads "ROWS:HASH": a row count of 0 or more and a hash of 64 lowercase
// hex digits (GenesisHash for 0 rows).
func ParseCheckpoint(s string) (Checkpoint, error) {
	n, h, ok := strings.Cut(strings.TrimSpace(s), ":")
	rows, err := strconv.ParseInt(n, 10, 64)
	switch {
	case !ok || err != nil || rows < 0:
		return Checkpoint{}, fmt.Errorf("checkpoint %q: want ROWS:HASH, such as 120:%s", s, strings.Repeat("ab", 32))
	case !hexHash.MatchString(h):
		return Checkpoint{}, fmt.Errorf("checkpoint %q: the hash must be 64 lowercase hex digits", s)
	case rows == 0 && h != GenesisHash:
		return Checkpoint{}, fmt.Errorf("checkpoint %q: an empty log's hash is %s", s, GenesisHash)
	}
	return Checkpoint{Rows: rows, Hash: h}, nil
}

// Head returns the chain's head now: the last row's id (the row count of an intact chain)
// and hash.
func Head(ctx context.Context, db *database.DB) (Checkpoint, error) {
	c := Checkpoint{Hash: GenesisHash, Time: time.Now().UTC()}
	err := db.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&c.Rows, &c.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, fmt.Errorf("read the audit chain's head: %w", err)
	}
	return c, nil
}

// Checkpointer takes a checkpoint when started and then every interval until Stop: it logs
// it (message "audit checkpoint", fields rows and hash), publishes it on [CheckpointTopic]
// and sets the metrics stagebus_audit_checkpoint_rows, stagebus_audit_checkpoint_timestamp_seconds
// and stagebus_audit_checkpoint_info{hash}. It also compares each head with the previous
// checkpoint of this process: fewer rows, or a different hash at the previous head's row,
// is logged as an error and counted in stagebus_audit_checkpoint_mismatches_total.
type Checkpointer struct {
	db       *database.DB
	bus      eventsvc.Publisher
	log      zerolog.Logger
	interval time.Duration

	rows       prometheus.Gauge
	taken      prometheus.Gauge
	info       *prometheus.GaugeVec
	mismatches prometheus.Counter

	mu   sync.Mutex
	last *Checkpoint // guarded by mu, held while a checkpoint is taken
	// latest is last, for Last, which does not wait for a checkpoint being taken.
	latest atomic.Pointer[Checkpoint]
	// loop takes the checkpoints between Start and Stop.
	loop *background.Loop
}

// NewCheckpointer returns a checkpointer for the chain on db; bus and reg may be nil.
func NewCheckpointer(db *database.DB, bus eventsvc.Publisher, log zerolog.Logger, interval time.Duration, reg prometheus.Registerer) (*Checkpointer, error) {
	c := &Checkpointer{
		db: db, bus: bus, log: log, interval: interval,
		rows:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "stagebus_audit_checkpoint_rows", Help: "Rows of the audit chain at the last checkpoint."}),
		taken:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "stagebus_audit_checkpoint_timestamp_seconds", Help: "When the last audit checkpoint was taken (Unix seconds)."}),
		info:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stagebus_audit_checkpoint_info", Help: "1 for the head hash of the last audit checkpoint (one series)."}, []string{"hash"}),
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{Name: "stagebus_audit_checkpoint_mismatches_total", Help: "Checkpoints that found the audit chain shorter than, or different from, the previous checkpoint."}),
	}
	if reg != nil {
		for _, m := range []prometheus.Collector{c.rows, c.taken, c.info, c.mismatches} {
			if err := reg.Register(m); err != nil {
				return nil, fmt.Errorf("register audit checkpoint metrics: %w", err)
			}
		}
	}
	c.loop = background.New("auth.audit.checkpoint", interval, func(ctx context.Context) error {
		_, err := c.Take(ctx)
		return err
	}, background.Immediately(), background.WithTimeout(time.Minute), background.WithLogger(log), background.WithRegisterer(reg))
	return c, nil
}

// Take takes a checkpoint now; see [Checkpointer]. It fails when the head cannot be read
// or the checkpoint cannot be published (it is logged and in the metrics already).
func (c *Checkpointer) Take(ctx context.Context) (Checkpoint, error) {
	cp, err := Head(ctx, c.db)
	if err != nil {
		return Checkpoint{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil {
		if problem, err := c.compare(ctx, *c.last, cp); err != nil {
			return Checkpoint{}, err
		} else if problem != "" {
			c.mismatches.Inc()
			c.log.Error().Str("previous", c.last.String()).Str("now", cp.String()).Str("problem", problem).
				Msg("audit log does not extend the previous checkpoint")
		}
	}
	c.last = &cp
	c.latest.Store(&cp)
	c.rows.Set(float64(cp.Rows))
	c.taken.Set(float64(cp.Time.UnixMilli()) / 1000)
	c.info.Reset()
	c.info.WithLabelValues(cp.Hash).Set(1)
	c.log.Info().Int64("rows", cp.Rows).Str("hash", cp.Hash).Str("checkpoint", cp.String()).Msg("audit checkpoint")
	if c.bus != nil {
		payload, err := json.Marshal(cp)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("encode audit checkpoint: %w", err)
		}
		if err := c.bus.Publish(ctx, eventsvc.Event{ID: uuid.NewString(), Topic: CheckpointTopic, Key: "audit", Payload: payload, Time: cp.Time}); err != nil {
			return Checkpoint{}, fmt.Errorf("publish audit checkpoint %s: %w", cp, err)
		}
	}
	return cp, nil
}

// Last returns the last checkpoint this process took (on its schedule or by Take), false
// before the first. A checkpoint whose publication failed counts: it was taken, logged and
// set in the metrics. Last does not wait for a checkpoint being taken; it is safe for
// concurrent use.
func (c *Checkpointer) Last() (Checkpoint, bool) {
	cp := c.latest.Load()
	if cp == nil {
		return Checkpoint{}, false
	}
	return *cp, true
}

// compare says what is wrong when now does not extend prev ("" when it does).
func (c *Checkpointer) compare(ctx context.Context, prev, now Checkpoint) (string, error) {
	if now.Rows < prev.Rows {
		return fmt.Sprintf("the log has %d rows, %d at the previous checkpoint (truncated)", now.Rows, prev.Rows), nil
	}
	if prev.Rows == 0 {
		return "", nil
	}
	var hash string
	if err := c.db.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE id = $1`, prev.Rows).Scan(&hash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Sprintf("row %d is missing", prev.Rows), nil
		}
		return "", fmt.Errorf("read audit row %d: %w", prev.Rows, err)
	}
	if hash != prev.Hash {
		return fmt.Sprintf("row %d's hash changed (rewritten)", prev.Rows), nil
	}
	return "", nil
}

// Start takes the first checkpoint, then one every interval on a goroutine of its own,
// until Stop. A failed checkpoint is logged and counted (loop auth.audit.checkpoint), and
// the next one tries again.
func (c *Checkpointer) Start(ctx context.Context) error { return c.loop.Start(ctx) }

// Stop ends the checkpoints, cancelling one under way, and waits until ctx ends at most.
func (c *Checkpointer) Stop(ctx context.Context) error { return c.loop.Stop(ctx) }
