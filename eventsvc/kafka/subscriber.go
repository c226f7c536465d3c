package kafka

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/internal/lanes"
)

// lanesPerReader is how many keys one reader hands out at once.
const lanesPerReader = 64

// Subscriber returns a new member of the consumer group groupPrefix+group.
func (b *Bus) Subscriber(group string) (message.Subscriber, error) {
	if b.closed.Load() {
		return nil, eventsvc.ErrClosed
	}
	return &subscriber{bus: b, group: b.cfg.GroupPrefix + group}, nil
}

type subscriber struct {
	bus   *Bus
	group string

	mu      sync.Mutex
	closed  bool
	readers []*reader
}

// reader consumes one topic for the group: a kafka-go group Reader, lanes that hand its
// records out, and a committer.
type reader struct {
	r       *kafkago.Reader
	topic   string
	log     zerolog.Logger
	lanes   *lanes.Dispatcher
	member  *lanes.Member
	tracker *tracker
	window  chan struct{} // one token per record handed out and not yet acknowledged
	recent  *recentIDs    // event ids handed out within events.kafka.dedupWindow; nil: off
	dups    prometheus.Counter

	stopFetch context.CancelFunc
	abort     chan struct{} // closed by Close: stop without waiting for acknowledgements
	abortOnce sync.Once
	done      chan struct{} // closed once the reader has left the group
	commit    chan struct{} // wakes the committer
	stop      chan struct{}
	committer sync.WaitGroup
}

// Subscribe joins the group on topic. It fails at once, naming the topic, when the topic is
// missing and may not be created. The channel closes when ctx ends or the subscriber closes.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("subscriber closed")
	}
	b := s.bus
	kt := b.cfg.kafkaTopic(topic)
	setup, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := b.ensureTopic(setup, kt)
	cancel()
	if err != nil {
		return nil, err
	}
	log := b.log.With().Str("group", s.group).Str("topic", kt).Logger()
	rd := &reader{
		topic:   kt,
		log:     log,
		tracker: newTracker(),
		window:  make(chan struct{}, b.cfg.MaxInFlight),
		dups:    b.dups.WithLabelValues(topic, s.group),
		commit:  make(chan struct{}, 1),
		stop:    make(chan struct{}),
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	rd.r = kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:                b.cfg.Brokers,
		GroupID:                s.group,
		Topic:                  kt,
		Dialer:                 b.dialer(),
		MinBytes:               1,
		MaxBytes:               10 << 20,
		MaxWait:                500 * time.Millisecond,
		QueueCapacity:          1000,
		CommitInterval:         0, // CommitMessages is synchronous; the committer batches
		HeartbeatInterval:      b.cfg.SessionTimeout / 4,
		SessionTimeout:         b.cfg.SessionTimeout,
		RebalanceTimeout:       2 * b.cfg.SessionTimeout,
		JoinGroupBackoff:       500 * time.Millisecond,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		StartOffset:            kafkago.FirstOffset,
		ReadBackoffMin:         50 * time.Millisecond,
		ReadBackoffMax:         time.Second,
		Logger:                 kafkaLogger{log: log},
		ErrorLogger:            kafkaLogger{log: log, warn: true},
	})
	if b.cfg.DedupWindow > 0 {
		rd.recent = newRecentIDs(b.cfg.DedupWindow)
	}
	rd.lanes = lanes.New(lanesPerReader, eventsvc.MetaKeyHeader, rd.acked)
	rd.member = rd.lanes.Join(lanes.Settles(ctx))
	fetchCtx, stopFetch := context.WithCancel(ctx)
	rd.stopFetch = stopFetch
	rd.committer.Go(func() { rd.commitLoop(b.cfg.CommitInterval) })
	go rd.run(fetchCtx)
	s.readers = append(s.readers, rd)
	return rd.member.Output(), nil
}

// run consumes until ctx ends, then shuts the reader down: the records fetched are handled
// (the lanes drain, unless Close aborts), so that what was handled is committed — a record
// left unhandled would hold back the commit of every later record of its partition, and a new
// member would handle those again — then the member's channel closes, and the reader leaves
// the group so that a new member can take its partitions.
func (rd *reader) run(ctx context.Context) {
	defer close(rd.done)
	rd.fetch(ctx)
	rd.lanes.Drain(rd.abort)
	rd.lanes.Close() // records a drain gave up are delivered again by Kafka
	close(rd.stop)
	rd.committer.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	rd.commitNow(cctx)
	cancel()
	if err := rd.r.Close(); err != nil {
		rd.log.Warn().Err(err).Msg("closing the kafka reader failed")
	}
}

// fetch reads records and hands them to the lanes, at most MaxInFlight unacknowledged at once,
// until ctx ends.
func (rd *reader) fetch(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for {
		select {
		case rd.window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		rec, err := rd.r.FetchMessage(ctx)
		if err != nil {
			<-rd.window
			if ctx.Err() != nil {
				return
			}
			rd.log.Warn().Err(err).Dur("retry_in", backoff).Msg("kafka fetch failed")
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		if !rd.tracker.receive(rec.Partition, rec.Offset) {
			<-rd.window // fetched again after a rebalance: done or being handled already
			continue
		}
		msg, pos := fromRecord(rec), lanes.Position{Partition: rec.Partition, Offset: rec.Offset}
		if rd.recent != nil && rd.recent.seen(msg.UUID, time.Now()) {
			// The same event again (a retried write). Committing past this copy is safe:
			// the first copy's offset is committed only once it was handled, so a crash
			// before then delivers that one again.
			rd.dups.Inc()
			rd.log.Debug().Str("event_id", msg.UUID).Int("partition", rec.Partition).Int64("offset", rec.Offset).Msg("kafka record skipped: its event id was handled within events.kafka.dedupWindow")
			rd.acked(msg, pos)
			continue
		}
		rd.lanes.Add(msg, pos)
	}
}

// acked is the lanes' callback for an acknowledged record.
func (rd *reader) acked(_ *message.Message, pos lanes.Position) {
	<-rd.window
	if rd.tracker.ack(pos.Partition, pos.Offset) {
		select {
		case rd.commit <- struct{}{}:
		default:
		}
	}
}

// commitLoop commits the watermarks when they move, at most once per interval; commits that
// fail (a rebalance) are retried with the next movement or at close.
func (rd *reader) commitLoop(interval time.Duration) {
	var pause *time.Timer
	if interval > 0 {
		pause = time.NewTimer(interval)
		defer pause.Stop()
	}
	for {
		select {
		case <-rd.commit:
		case <-rd.stop:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rd.commitNow(ctx)
		cancel()
		if pause == nil {
			continue
		}
		pause.Reset(interval) // what is acknowledged meanwhile is committed together
		select {
		case <-pause.C:
		case <-rd.stop:
			return
		}
	}
}

func (rd *reader) commitNow(ctx context.Context) {
	offsets := rd.tracker.toCommit()
	if len(offsets) == 0 {
		return
	}
	msgs := make([]kafkago.Message, 0, len(offsets))
	for p, o := range offsets {
		msgs = append(msgs, kafkago.Message{Topic: rd.topic, Partition: p, Offset: o})
	}
	if err := rd.r.CommitMessages(ctx, msgs...); err != nil {
		rd.log.Warn().Err(err).Msg("kafka offset commit failed; those records may be delivered again")
		return
	}
	rd.tracker.committed(offsets)
}

// close stops the reader at once: records handed out and not yet acknowledged are given up
// (Kafka delivers them again), what was acknowledged is committed, and the reader leaves the
// group.
func (rd *reader) close() {
	rd.abortOnce.Do(func() { close(rd.abort) })
	rd.stopFetch()
	<-rd.done
}

// Close closes every reader of this member; see reader.close. The EventsService closes a
// subscriber only after its handlers finished, so nothing acknowledged is left uncommitted.
func (s *subscriber) Close() error {
	s.mu.Lock()
	readers := s.readers
	s.readers = nil
	s.closed = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, rd := range readers {
		wg.Go(rd.close)
	}
	wg.Wait()
	return nil
}
