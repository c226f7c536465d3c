package sqlbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/internal/background"
)

// publishLock is the PostgreSQL advisory lock key that orders publishes, so that sequence
// numbers commit in order and a reader never passes one still being written.
const publishLock = 0x7374616765627332

// notifyChannel is the PostgreSQL LISTEN/NOTIFY channel; the payload is the topic.
const notifyChannel = "stagebus_events"

// Bus is the SQL backend. It shares the database with the rest of Stagebus and does not
// close it.
type Bus struct {
	db      *database.DB
	cfg     Config
	log     zerolog.Logger
	id      string // this instance's lease owner name
	hub     *hub
	metrics *metrics
	purge   *background.Loop
	closed  atomic.Bool
	clock   func() time.Time // the purge's clock; nil: time.Now

	mu      sync.Mutex
	readers map[groupTopic]*reader // guarded by mu, as hub is until Start set it
	stmts   *statements            // SQLite: prepared by Start, closed by Close; nil on PostgreSQL
	once    *onceIndex             // SQLite only
	relay   *relay                 // set by Relay: the bus is an outbox

	// commits takes publishes to the group committer between Start and Close.
	commits   chan *commitReq
	quit      chan struct{}
	committer sync.WaitGroup
}

var (
	_ eventsvc.Backend      = (*Bus)(nil)
	_ eventsvc.BatchBackend = (*Bus)(nil)
	_ eventsvc.OnceBackend  = (*Bus)(nil)
)

type groupTopic struct{ group, topic string }

// New prepares a bus on db (started and migrated with [Migrations] by its owner); reg may be
// nil.
func New(db *database.DB, cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("events.sql: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	b := &Bus{db: db, cfg: cfg, log: log, id: uuid.NewString(), metrics: m, readers: map[groupTopic]*reader{}}
	if db.Dialect() == database.SQLite {
		b.once = newOnceIndex(m.onceKeys)
	}
	b.purge = background.New("events.sql.purge", purgeInterval(cfg.Retention), b.Purge,
		background.Immediately(), background.WithTimeout(5*time.Minute), background.WithLogger(log), background.WithRegisterer(reg))
	return b, nil
}

// purgeInterval runs the purge a few times per retention period, at most hourly.
func purgeInterval(retention time.Duration) time.Duration {
	return min(max(retention/8, 10*time.Second), time.Hour)
}

// Start checks the database, joins the in-process notifier (which, on PostgreSQL, keeps one
// LISTEN connection per database and process) and starts the purge.
func (b *Bus) Start(ctx context.Context) error {
	if err := b.db.PingContext(ctx); err != nil {
		return fmt.Errorf("events.sql: the database does not answer: %w", err)
	}
	b.mu.Lock()
	if b.hub != nil {
		b.mu.Unlock()
		return errors.New("events.sql: the bus is started already")
	}
	stmts, err := prepare(ctx, b.db)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	b.stmts = stmts
	b.hub = joinHub(b.db, b.log)
	b.commits, b.quit = make(chan *commitReq, maxGroup), make(chan struct{})
	b.mu.Unlock()
	b.committer.Go(b.commitLoop)
	return b.purge.Start(ctx)
}

// Publisher returns the bus itself.
func (b *Bus) Publisher() message.Publisher { return b }

// Publish stores the messages in one transaction and wakes the topic's readers. The first
// message's context bounds the wait.
func (b *Bus) Publish(topic string, msgs ...*message.Message) error {
	return b.PublishBatch(eventsvc.AsBatch(topic, msgs))
}

// PublishBatch stores messages of any topics atomically — all or none — in order, and wakes
// their readers. Concurrent calls share one transaction (see commitLoop); each returns once its
// messages are committed, or with the error that kept them out.
func (b *Bus) PublishBatch(ctx context.Context, batch []eventsvc.Outgoing) error {
	return b.submit(ctx, nil, batch)
}

// PublishOnce is PublishBatch that also records once in bus_once, in the same transaction,
// unless the key is recorded and not expired: then it stores nothing and returns
// eventsvc.ErrDuplicate. Expired keys are purged with the messages.
func (b *Bus) PublishOnce(ctx context.Context, once eventsvc.Once, batch []eventsvc.Outgoing) error {
	return b.submit(ctx, &once, batch)
}

// submit hands a publish to the group committer and waits for its outcome.
func (b *Bus) submit(ctx context.Context, once *eventsvc.Once, batch []eventsvc.Outgoing) error {
	if b.closed.Load() {
		return eventsvc.ErrClosed
	}
	if len(batch) == 0 && once == nil {
		return nil
	}
	if b.hub == nil {
		return errors.New("events.sql: Publish before Start")
	}
	req := &commitReq{ctx: ctx, once: once, rows: toRows(batch, b.db.Dialect() == database.SQLite), done: make(chan error, 1)}
	select {
	case b.commits <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return eventsvc.ErrClosed
	}
	// Once taken, the request is answered: written, refused, or skipped because ctx ended
	// before its turn, so that the caller never mistakes a committed message for a failed one.
	return <-req.done
}

// announce wakes the readers of name (a topic, or a topic's releases) in this process and, on
// PostgreSQL, in the other instances.
func (b *Bus) announce(ctx context.Context, name string) {
	b.hub.wake(name)
	if b.db.Dialect() == database.Postgres {
		if _, err := b.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, name); err != nil {
			b.log.Warn().Err(err).Msg("events.sql: notifying the other instances failed; they find out within events.sql.pollInterval")
		}
	}
}

// Health pings the database; it fails once the bus is closed.
func (b *Bus) Health(ctx context.Context) error {
	if b.closed.Load() {
		return eventsvc.ErrClosed
	}
	return b.db.PingContext(ctx)
}

// Close stops the readers (their acknowledged offsets are recorded and their leases
// released), the relay (its lease released), the purge and the LISTEN connection. The database stays open.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.quit != nil {
		close(b.quit)
		b.committer.Wait()
	}
	b.mu.Lock()
	readers := make([]*reader, 0, len(b.readers))
	for _, r := range b.readers {
		readers = append(readers, r)
	}
	h := b.hub
	b.mu.Unlock()
	abort := make(chan struct{})
	close(abort)
	for _, r := range readers {
		r.shutdown(abort)
	}
	b.stopRelay()
	err := b.purge.Stop(context.Background())
	if h != nil {
		h.leave()
	}
	if b.stmts != nil {
		err = errors.Join(err, b.stmts.Close())
	}
	return err
}

// Module contributes the SQL bus as the backend named "sql", and as the outbox
// (eventsvc.OutboxFactory) of the other backends, and owns events.sql and the bus tables. It
// also provides the event history (*History), whatever events.bus says: the bus tables are
// migrated whenever the module is in the application, and the SQL bus and the outbox both
// write them.
var Module = fx.Module("eventsvc/sql",
	config.Provide[Config]("events.sql"),
	database.AsMigrations(Migrations...),
	fx.Provide(eventsvc.AsBackend(func(p params) eventsvc.BackendFactory {
		return eventsvc.BackendFactory{Name: "sql", New: func() (eventsvc.Backend, error) {
			return New(p.DB, p.Config, p.Log.With().Str("module", "events.sql").Logger(), p.Registerer)
		}}
	})),
	fx.Provide(outboxFactory),
	fx.Provide(NewHistory),
)

type params struct {
	fx.In
	DB         *database.DB
	Config     Config
	Log        zerolog.Logger
	Registerer prometheus.Registerer `optional:"true"`
}
