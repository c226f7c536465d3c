package recorder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/internal/background"
)

// ConfigPath is the recorder's configuration section.
const ConfigPath = "events.recorder"

// SubscriptionID is the recorder's subscription (its consumer group).
const SubscriptionID = "recorder"

// Config is events.recorder.
type Config struct {
	// Topics to record; none (the default) turns the recorder off.
	Topics []string `yaml:"topics"`
	// HandlerDelay is how long each delivery waits before it is recorded (default 0): a slow
	// subscriber for reliability tests.
	HandlerDelay time.Duration `yaml:"handlerDelay"`
}

// Validate checks the topics and the delay.
func (c Config) Validate() error {
	var errs []error
	for i, t := range c.Topics {
		if err := eventsvc.ValidateTopic(t); err != nil {
			errs = append(errs, config.Fieldf(fmt.Sprintf("topics[%d]", i), "%v", err))
		}
	}
	if c.HandlerDelay < 0 || c.HandlerDelay > time.Minute {
		errs = append(errs, config.Fieldf("handlerDelay", "must be between 0 and 1m, got %s", c.HandlerDelay))
	}
	return errors.Join(errs...)
}

// Migrations create the recorder's table.
var Migrations = []database.Migration{{
	Module:  "recorder",
	Version: 1,
	SQL: `CREATE TABLE recorded_events (
		topic TEXT NOT NULL,
		event_id TEXT NOT NULL,
		handled_at BIGINT NOT NULL,
		deliveries INTEGER NOT NULL,
		PRIMARY KEY (topic, event_id)
	)`,
}}

// Recorded is one row of the recorder's table.
type Recorded struct {
	Topic, EventID string
	// HandledAt is when the event was first recorded.
	HandledAt time.Time
	// Deliveries counts the times the event was delivered and recorded (1 unless the bus
	// delivered it again).
	Deliveries int
}

// writeTimeout bounds the write of one record.
const writeTimeout = 10 * time.Second

// Recorder records handled events in the database.
type Recorder struct {
	db    *database.DB
	delay time.Duration
}

// New returns a recorder on db whose deliveries first wait delay.
func New(db *database.DB, delay time.Duration) *Recorder { return &Recorder{db: db, delay: delay} }

// Handle records e: a new row, or one more delivery of a row already there. It waits the
// handler delay first, or less when ctx ends (then it returns ctx's error and the bus delivers
// the event again). Once the wait is over, the write is not cut short by ctx (a stopping
// subscription), within writeTimeout: a statement cancelled while it commits can have
// committed, and reporting it failed would make the bus deliver a recorded event again.
func (r *Recorder) Handle(ctx context.Context, e eventsvc.Event) error {
	if r.delay > 0 {
		if err := background.Sleep(ctx, r.delay); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	_, err := r.db.ExecContext(ctx, `INSERT INTO recorded_events (topic, event_id, handled_at, deliveries) VALUES ($1, $2, $3, 1)
		ON CONFLICT (topic, event_id) DO UPDATE SET deliveries = recorded_events.deliveries + 1`,
		e.Topic, e.ID, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("record %s %s: %w", e.Topic, e.ID, err)
	}
	return nil
}

// List returns every recorded event of topic, oldest first.
func (r *Recorder) List(ctx context.Context, topic string) ([]Recorded, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT topic, event_id, handled_at, deliveries FROM recorded_events WHERE topic = $1 ORDER BY handled_at, event_id`, topic)
	if err != nil {
		return nil, fmt.Errorf("list recorded events: %w", err)
	}
	defer rows.Close()
	var out []Recorded
	for rows.Next() {
		var rec Recorded
		var at int64
		if err := rows.Scan(&rec.Topic, &rec.EventID, &at, &rec.Deliveries); err != nil {
			return nil, fmt.Errorf("list recorded events: %w", err)
		}
		rec.HandledAt = time.UnixMilli(at)
		out = append(out, rec)
	}
	return out, rows.Err()
}

// Subscription returns the recorder's subscription of topics.
func (r *Recorder) Subscription(topics []string) eventsvc.Subscription {
	return eventsvc.Subscription{ID: SubscriptionID, Topics: topics, Handler: r.Handle}
}

// Module provides events.recorder, the table's migrations and, when topics are configured,
// the recorder's subscription. It needs the database and eventsvc modules.
var Module = fx.Module("subscribers/recorder",
	config.Provide[Config](ConfigPath),
	database.AsMigrations(Migrations...),
	fx.Provide(
		eventsvc.AsSubscriptions(func(db *database.DB, cfg Config) []eventsvc.Subscription {
			if len(cfg.Topics) == 0 {
				return nil
			}
			return []eventsvc.Subscription{New(db, cfg.HandlerDelay).Subscription(cfg.Topics)}
		}),
	),
)
