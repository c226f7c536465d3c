package sqlbus

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/internal/lanes"
)

// Partitions is how many parts each topic's messages are spread over, by ordering key: the
// most instances that share one subscription's work. It is fixed for a database: changing it
// would break the order of a key's messages.
const Partitions = 8

const (
	// lanesPerGroup is how many keys one group's reader hands out at once.
	lanesPerGroup = 64
	// fetchBatch is how many messages one query reads.
	fetchBatch = 100
	// maxInFlight bounds the messages read and not yet acknowledged by one reader. After a
	// crash these are delivered again, and so are those acknowledged in the last recordEvery.
	maxInFlight = 1000
	// recordEvery is how often, at most, a reader records its offsets while messages are
	// acknowledged.
	recordEvery = 20 * time.Millisecond
	// markEvery is how often, at most, a reader appends a handled-at mark (bus_marks) of a
	// partition, with the offset it records: under a steady stream the offsets move every
	// recordEvery, and a mark each time would add a row per partition to every record.
	markEvery = time.Second
	// MarkBound is how late a handled-at mark (see History.Handling) is at most after the
	// consumer group's watermark passed a message, while the reader that passed it runs on:
	// the move is recorded within recordEvery and marked then or, when the partition was
	// marked less than markEvery before, markEvery after that mark, by a record the reader
	// wakes up for (reader.due). The time the database takes to take the write comes on top:
	// on SQLite the record waits for the one writer.
	MarkBound = markEvery + recordEvery
)

// partitionOf maps an ordering key to its partition; messages without a key are spread by id.
func partitionOf(key, id string) int {
	if key == "" {
		key = id
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % Partitions)
}

// part is a reader's state of one partition. Its fields are guarded by reader.mu.
type part struct {
	owned     bool
	draining  bool           // to be released once nothing of it is in flight
	cursor    int64          // highest sequence read
	pending   []int64        // read, not yet passed by the watermark, in order
	acked     map[int64]bool // acknowledged, not yet passed by the watermark
	inFlight  int            // read and not acknowledged
	watermark int64          // everything read up to it was acknowledged
	committed int64          // watermark last recorded in bus_offsets
	marked    int64          // watermark of the last mark in bus_marks, or the one the partition was taken at
	markedAt  time.Time      // when the last mark was written; zero: not since the partition was taken
}

// reader consumes one topic for one consumer group in this instance: it is a member of the
// group (bus_members), holds the leases of its share of the partitions, reads their messages
// after the offsets, hands them out through lanes, and records the offsets below which
// everything was acknowledged.
type reader struct {
	bus          *Bus
	group, topic string
	log          zerolog.Logger
	lanes        *lanes.Dispatcher
	members      int // guarded by bus.mu

	ctx       context.Context // ends at shutdown
	cancel    context.CancelFunc
	acks      chan struct{} // an acknowledgement arrived
	stop      chan struct{}
	abort     chan struct{} // closed by an aborting shutdown: do not wait for handlers
	stopOnce  sync.Once
	abortOnce sync.Once
	done      chan struct{}

	mu       sync.Mutex
	parts    [Partitions]part
	inFlight int

	// Owned by run's goroutine:
	turn    int  // which partitions get the larger shares of a tight window
	starved bool // the in-flight window held the last read back: acknowledgements make room
}

func newReader(b *Bus, group, topic string) *reader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{
		bus: b, group: group, topic: topic,
		log:    b.log.With().Str("group", group).Str("topic", topic).Logger(),
		ctx:    ctx,
		cancel: cancel,
		acks:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		abort:  make(chan struct{}),
		done:   make(chan struct{}),
	}
	for i := range r.parts {
		r.parts[i].acked = map[int64]bool{}
	}
	r.lanes = lanes.New(lanesPerGroup, eventsvc.MetaKeyHeader, r.ack)
	return r
}

// shutdown stops the reader and waits until it recorded its offsets and released its leases.
// It first hands out what was read and waits for it to be acked or nacked (see finish), until
// abort closes (a nil abort never does).
func (r *reader) shutdown(abort <-chan struct{}) {
	r.stopOnce.Do(func() { close(r.stop) })
	select {
	case <-r.done:
		return
	case <-abort:
	}
	r.abortOnce.Do(func() { close(r.abort) })
	<-r.done
}

// ack is the lanes' callback for an acknowledged message: pos is its partition and sequence
// number.
func (r *reader) ack(_ *message.Message, pos lanes.Position) {
	p, seq := pos.Partition, pos.Offset
	if p < 0 || p >= Partitions {
		return
	}
	r.mu.Lock()
	s := &r.parts[p]
	s.acked[seq] = true
	s.inFlight--
	r.inFlight--
	for len(s.pending) > 0 && s.acked[s.pending[0]] {
		delete(s.acked, s.pending[0])
		s.watermark = max(s.watermark, s.pending[0])
		s.pending = s.pending[1:]
	}
	r.mu.Unlock()
	select {
	case r.acks <- struct{}{}:
	default:
	}
}

// run is the reader's loop. A pass renews the membership and leases when due, rebalances
// when told to, records the offsets when due and reads when messages may be waiting; then it
// waits for a wake-up. Messages may be waiting after a publish (this process's, or another
// instance's notification), a rebalance, a read that stopped at its batch size or at the
// in-flight window, a failed read, or events.sql.pollInterval without a read (the fallback
// for publishes nothing announced). An acknowledgement alone is no reason to read unless the
// window held the last read back: the reads return everything there was, and what comes
// later is announced. Offsets are recorded at most every recordEvery while messages are
// acknowledged (and at shutdown), so that a stream of acknowledgements costs a few writes
// per second rather than one each; a handled-at mark that the rate limit held back is due
// markEvery after the partition's previous mark, and the loop wakes up for it (see due).
func (r *reader) run() {
	defer close(r.done)
	defer r.cancel()
	published, unregister := r.bus.hub.register(r.topic)
	defer unregister()
	released, unregisterReleased := r.bus.hub.register(releaseTopic(r.topic))
	defer unregisterReleased()
	beat := r.bus.cfg.LeaseTimeout / 3
	var (
		joined    bool
		heartbeat time.Time // next membership heartbeat and lease renewal
		claim     = true    // try to take free partitions
		look      = true    // read: messages may be waiting
		poll      time.Time // next read when nothing says messages are waiting
		recorded  time.Time // when the offsets were last recorded
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if !joined {
			if err := r.join(r.ctx); err != nil {
				r.warn(err, "joining the consumer group failed")
			} else {
				joined = true
			}
		}
		if joined && !time.Now().Before(heartbeat) {
			if err := r.heartbeat(r.ctx); err != nil {
				r.warn(err, "renewing the consumer group's membership and leases failed")
			}
			heartbeat, claim = time.Now().Add(beat), true
		}
		if joined && claim {
			if err := r.rebalance(r.ctx); err != nil {
				r.warn(err, "taking a share of the consumer group's partitions failed")
			}
			claim, look = false, true
		}
		if now := time.Now(); !now.Before(recorded.Add(recordEvery)) {
			if err := r.commit(r.ctx, false); err != nil {
				r.warn(err, "recording the offsets failed; retried")
			}
			recorded = now
		}
		if look || !time.Now().Before(poll) {
			more, err := r.fetch(r.ctx)
			if err != nil {
				r.warn(err, "reading messages failed")
			}
			look, poll = more || err != nil, time.Now().Add(r.bus.cfg.PollInterval)
			if more {
				select {
				case <-r.stop:
					r.finish()
					return
				default:
					continue
				}
			}
		}
		wake := min(time.Until(poll), time.Until(heartbeat))
		if due, ok := r.due(); ok {
			wake = min(wake, time.Until(later(due, recorded.Add(recordEvery))))
		}
		timer.Reset(max(wake, time.Millisecond))
		select {
		case <-published:
			look = true
		case <-released:
			claim = true
		case <-r.acks:
			look = look || r.starved
		case <-timer.C:
		case <-r.stop:
			r.finish()
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (r *reader) warn(err error, what string) {
	if err != nil && r.ctx.Err() == nil {
		r.log.Warn().Err(err).Msg("events.sql: " + what)
	}
}

// finish hands out and waits for what was fetched (the lanes drain, unless aborted: see
// lanes.Dispatcher.Drain), stops the lanes, records the offsets, releases the leases and
// leaves the group, waking the other instances so that they take over.
func (r *reader) finish() {
	r.lanes.Drain(r.abort)
	r.lanes.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.commit(ctx, true); err != nil {
		r.log.Warn().Err(err).Msg("events.sql: recording the offsets at shutdown failed; those messages will be delivered again")
	}
	db := r.bus.db
	_, err1 := db.ExecContext(ctx, `DELETE FROM bus_members WHERE grp = $1 AND topic = $2 AND owner = $3`, r.group, r.topic, r.bus.id)
	_, err2 := db.ExecContext(ctx, `UPDATE bus_offsets SET owner = '', lease_until = 0 WHERE grp = $1 AND topic = $2 AND owner = $3`, r.group, r.topic, r.bus.id)
	if err1 != nil || err2 != nil {
		r.log.Warn().AnErr("members", err1).AnErr("offsets", err2).Msg("events.sql: leaving the consumer group failed; others take over when the leases expire")
		return
	}
	r.bus.announce(ctx, releaseTopic(r.topic))
}

// releaseTopic names the wake-ups of readers waiting for topic's partitions.
func releaseTopic(topic string) string { return "\x1frelease:" + topic }

// join creates the group's offset rows of the topic (starting at the beginning, like a new
// Kafka group) when they are missing.
func (r *reader) join(ctx context.Context) error {
	var a database.Args
	values := make([]string, Partitions)
	for p := range Partitions {
		values[p] = "(" + a.Add(r.group) + ", " + a.Add(r.topic) + ", " + a.Add(p) + ", 0)"
	}
	_, err := r.bus.db.ExecContext(ctx, `INSERT INTO bus_offsets (grp, topic, part, acked) VALUES `+strings.Join(values, ", ")+` ON CONFLICT DO NOTHING`, a...)
	return err
}

// heartbeat renews this instance's membership and leases.
func (r *reader) heartbeat(ctx context.Context) error {
	until := time.Now().Add(r.bus.cfg.LeaseTimeout).UnixNano()
	if _, err := r.bus.db.ExecContext(ctx, `INSERT INTO bus_members (grp, topic, owner, seen_until) VALUES ($1, $2, $3, $4)
		ON CONFLICT (grp, topic, owner) DO UPDATE SET seen_until = excluded.seen_until`, r.group, r.topic, r.bus.id, until); err != nil {
		return err
	}
	_, err := r.bus.db.ExecContext(ctx, `UPDATE bus_offsets SET lease_until = $1 WHERE grp = $2 AND topic = $3 AND owner = $4`,
		until, r.group, r.topic, r.bus.id)
	return err
}

// rebalance takes free or expired partitions up to this instance's share (the partitions
// divided by the live members, rounded up), learns which partitions it holds, and drains the
// ones beyond its share so that they can be released to other members.
func (r *reader) rebalance(ctx context.Context) error {
	db := r.bus.db
	now := time.Now()
	var members int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bus_members WHERE grp = $1 AND topic = $2 AND seen_until >= $3`,
		r.group, r.topic, now.UnixNano()).Scan(&members); err != nil {
		return err
	}
	share := (Partitions + max(members, 1) - 1) / max(members, 1)
	r.mu.Lock()
	owned := 0
	for i := range r.parts {
		if r.parts[i].owned {
			owned++
		}
	}
	r.mu.Unlock()
	if owned < share {
		if _, err := db.ExecContext(ctx, `UPDATE bus_offsets SET owner = $1, lease_until = $2
			WHERE grp = $3 AND topic = $4 AND (owner = '' OR lease_until < $5) AND part IN (
				SELECT part FROM bus_offsets WHERE grp = $3 AND topic = $4 AND (owner = '' OR lease_until < $5) ORDER BY part LIMIT $6)`,
			r.bus.id, now.Add(r.bus.cfg.LeaseTimeout).UnixNano(), r.group, r.topic, now.UnixNano(), share-owned); err != nil {
			return err
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT part, acked FROM bus_offsets WHERE grp = $1 AND topic = $2 AND owner = $3`, r.group, r.topic, r.bus.id)
	if err != nil {
		return err
	}
	defer rows.Close()
	held := map[int]int64{}
	for rows.Next() {
		var p int
		var acked int64
		if err := rows.Scan(&p, &acked); err != nil {
			return err
		}
		if p >= 0 && p < Partitions {
			held[p] = acked
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	r.mu.Lock()
	kept := 0
	for p := range r.parts {
		s := &r.parts[p]
		acked, ok := held[p]
		switch {
		case !ok && s.owned:
			s.owned, s.draining = false, false
			r.log.Warn().Int("partition", p).Msg("events.sql: a partition's lease was taken over (this instance stalled longer than events.sql.leaseTimeout); its messages may be delivered twice")
		case ok && !s.owned:
			s.owned, s.draining = true, false
			s.cursor = max(s.cursor, acked)
			// The messages up to acked were passed by an earlier owner, or before the marks
			// existed, at a time this reader does not know: its first mark starts after them.
			s.marked, s.markedAt = acked, time.Time{}
			if s.inFlight == 0 {
				s.watermark, s.committed = max(s.watermark, acked), max(s.committed, acked)
			}
		}
		if s.owned {
			kept++
			s.draining = kept > share
		}
	}
	r.mu.Unlock()
	return nil
}

// move is a partition's offset to record: its watermark, whether it is released, and whether
// a handled-at mark of it is appended (prev: the watermark of the partition's previous mark).
type move struct {
	p       int
	w       int64
	release bool
	mark    bool
	prev    int64
}

// Handled-at marks: when a reader records a partition's watermark it may also append a row
// (group, topic, partition, watermark, previous mark's watermark, now) to bus_marks, in the
// same statement or transaction, so that the history can tell when a message was handled:
// by the first mark at or past it. Marking every record would add a row per partition every
// recordEvery under a steady stream, on SQLite's only writer; so a partition is marked at
// most every markEvery, and a watermark that moves within markEvery of the last mark is
// recorded unmarked and marked later — with the watermark of that time — at the first
// record markEvery after the last mark. The reader wakes up for that record when nothing
// else brings one about (due), so that the last move before a quiet spell is marked within
// MarkBound too. A release and the shutdown mark what is unmarked at once: the reader's
// state ends there.
//
// prev makes each mark say which messages it covers, (prev, watermark]: the first mark of a
// partition taken over, or taken after the marks were introduced, starts at the offset it was
// taken at, so that the messages passed earlier, at an unknown time, are not attributed to
// it (History.Handling leaves their time out).

// moves returns the offsets to record at now: the watermarks that moved, the drained
// partitions to release, and the marks due — all unmarked moves when flush.
func (r *reader) moves(now time.Time, flush bool) []move {
	r.mu.Lock()
	defer r.mu.Unlock()
	var moves []move
	for p := range r.parts {
		s := &r.parts[p]
		if !s.owned {
			continue
		}
		release := s.draining && s.inFlight == 0
		mark := s.watermark > s.marked && (flush || release || !now.Before(s.markedAt.Add(markEvery)))
		if s.watermark > s.committed || release || mark {
			moves = append(moves, move{p, s.watermark, release, mark, s.marked})
		}
	}
	return moves
}

// due reports when the next record is due, if one is: at once (the zero time) for a
// watermark that moved or a partition to release, markEvery after the last mark for a
// partition recorded but not marked.
func (r *reader) due() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var due time.Time
	ok := false
	for p := range r.parts {
		s := &r.parts[p]
		if !s.owned {
			continue
		}
		var t time.Time
		switch {
		case s.watermark > s.committed || s.draining && s.inFlight == 0:
		case s.watermark > s.marked:
			t = s.markedAt.Add(markEvery)
		default:
			continue
		}
		if !ok || t.Before(due) {
			due, ok = t, true
		}
	}
	return due, ok
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// commit records the watermarks that moved, the marks due (all unmarked moves when flush) and
// releases drained partitions, all in one transaction. A partition whose row another
// instance owns by now (its lease was taken over) is no longer held, and is not marked.
func (r *reader) commit(ctx context.Context, flush bool) error {
	now := time.Now()
	moves := r.moves(now, flush)
	if len(moves) == 0 {
		return nil
	}
	var recorded [Partitions]bool // the row was ours, and is updated
	var err error
	if r.bus.db.Dialect() == database.Postgres {
		recorded, err = r.recordPostgres(ctx, moves, now)
	} else {
		recorded, err = r.recordSQLite(ctx, moves, now)
	}
	if err != nil {
		return err
	}
	released := false
	r.mu.Lock()
	for _, m := range moves {
		s := &r.parts[m.p]
		if recorded[m.p] {
			s.committed = max(s.committed, m.w)
			if m.mark {
				s.marked, s.markedAt = max(s.marked, m.w), now
			}
		}
		if !recorded[m.p] || m.release {
			s.owned, s.draining = false, false
		}
		released = released || m.release
	}
	r.mu.Unlock()
	if released {
		r.bus.announce(ctx, releaseTopic(r.topic))
	}
	return nil
}

// pgRecord records several partitions' offsets of a topic in one statement on PostgreSQL:
// $1–$3 the partitions, their watermarks and their owners from now on (empty to release),
// $4–$6 the group, the topic and this instance. It returns the partitions updated: those
// this instance still owned.
const pgRecord = `UPDATE bus_offsets o SET acked = GREATEST(o.acked, v.acked), owner = v.owner
	FROM unnest($1::int[], $2::bigint[], $3::text[]) AS v(part, acked, owner)
	WHERE o.grp = $4 AND o.topic = $5 AND o.owner = $6 AND o.part = v.part
	RETURNING o.part`

// pgRecordMarks is pgRecord that also appends the marks of the partitions updated whose $7
// is true, with $8 their previous marks' watermarks and $9 the time: one statement still,
// the insert reading the update's result.
const pgRecordMarks = `WITH v AS (
		SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $7::boolean[], $8::bigint[]) AS v(part, acked, owner, mark, prev)
	), u AS (
		UPDATE bus_offsets o SET acked = GREATEST(o.acked, v.acked), owner = v.owner FROM v
		WHERE o.grp = $4 AND o.topic = $5 AND o.owner = $6 AND o.part = v.part
		RETURNING o.part
	), m AS (
		INSERT INTO bus_marks (grp, topic, part, acked, prev, at)
		SELECT $4::text, $5::text, v.part, v.acked, v.prev, $9::bigint FROM v JOIN u ON u.part = v.part WHERE v.mark
		ON CONFLICT DO NOTHING
	)
	SELECT part FROM u`

// recordPostgres records the moves with pgRecord, or pgRecordMarks when some are marked.
func (r *reader) recordPostgres(ctx context.Context, moves []move, now time.Time) (recorded [Partitions]bool, err error) {
	parts, ws, owners := make([]int32, len(moves)), make([]int64, len(moves)), make([]string, len(moves))
	marks, prevs := make([]bool, len(moves)), make([]int64, len(moves))
	marked := false
	for i, m := range moves {
		parts[i], ws[i], owners[i] = int32(m.p), m.w, r.bus.id
		if m.release {
			owners[i] = ""
		}
		marks[i], prevs[i] = m.mark, m.prev
		marked = marked || m.mark
	}
	query, args := pgRecord, []any{parts, ws, owners, r.group, r.topic, r.bus.id}
	if marked {
		query, args = pgRecordMarks, append(args, marks, prevs, now.UnixNano())
	}
	rows, err := r.bus.db.QueryContext(ctx, query, args...)
	if err != nil {
		return recorded, err
	}
	defer rows.Close()
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			return recorded, err
		}
		if p >= 0 && p < Partitions {
			recorded[p] = true
		}
	}
	return recorded, rows.Err()
}

// recordSQLite records the moves with the prepared statements, in one transaction: a mark
// only for a partition whose offset was recorded.
func (r *reader) recordSQLite(ctx context.Context, moves []move, now time.Time) (recorded [Partitions]bool, err error) {
	tx, err := r.bus.db.BeginTx(ctx, nil)
	if err != nil {
		return recorded, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, m := range moves {
		owner := r.bus.id
		if m.release {
			owner = ""
		}
		res, err := r.bus.stmts.offset.exec(ctx, tx, m.w, owner, r.group, r.topic, m.p, r.bus.id)
		if err != nil {
			return recorded, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return recorded, err
		}
		recorded[m.p] = n == 1
		if m.mark && recorded[m.p] {
			if _, err := r.bus.stmts.mark.exec(ctx, tx, r.group, r.topic, m.p, m.w, m.prev, now.UnixNano()); err != nil {
				return recorded, err
			}
		}
	}
	return recorded, tx.Commit()
}

// want is one partition's share of a fetch: up to limit messages after cursor.
type want struct {
	p      int
	cursor int64
	limit  int
}

// shares divides room, what the in-flight window has left, among n partitions: equal
// shares of at most fetchBatch each, the remainder one each to the partitions from turn on
// (counted modulo n), so that when the window is tight the same partitions do not always get
// the larger shares.
func shares(n, room, turn int) []int {
	limits := make([]int, n)
	if n == 0 || room <= 0 {
		return limits
	}
	each, rest := room/n, room%n
	for i := range limits {
		extra := 0
		if (i-turn%n+n)%n < rest {
			extra = 1
		}
		limits[i] = min(fetchBatch, each+extra)
	}
	return limits
}

// fetch reads the messages after the cursors of the partitions held, as many as the window
// allows, and queues them on the lanes; more reports that more may be waiting.
func (r *reader) fetch(ctx context.Context) (more bool, err error) {
	r.mu.Lock()
	var wants []want
	for p := range r.parts {
		if s := &r.parts[p]; s.owned && !s.draining {
			wants = append(wants, want{p: p, cursor: s.cursor})
		}
	}
	room := maxInFlight - r.inFlight
	r.mu.Unlock()
	limits := shares(len(wants), room, r.turn)
	r.turn++
	var live []want
	for i := range wants {
		if wants[i].limit = limits[i]; wants[i].limit > 0 {
			live = append(live, wants[i])
		}
	}
	if len(live) == 0 {
		r.starved = len(wants) > 0 // no room
		return false, nil
	}
	var got [Partitions][]fetched
	if r.bus.db.Dialect() == database.Postgres {
		got, err = r.readAll(ctx, live)
	} else {
		for _, w := range live {
			if got[w.p], err = r.read(ctx, w.p, w.cursor, w.limit); err != nil {
				break
			}
		}
	}
	if err != nil {
		return false, err
	}
	r.starved = false
	for _, w := range wants {
		// A share cut by the window and used up (or none, for want of room): more may be
		// waiting.
		r.starved = r.starved || w.limit < fetchBatch && len(got[w.p]) == w.limit
	}
	for _, w := range live {
		msgs := got[w.p]
		if len(msgs) == 0 {
			continue
		}
		s := &r.parts[w.p]
		r.mu.Lock()
		if !s.owned || s.draining { // lost while reading
			r.mu.Unlock()
			continue
		}
		for _, m := range msgs {
			s.pending = append(s.pending, m.seq)
			s.cursor = m.seq
			s.inFlight++
			r.inFlight++
		}
		r.mu.Unlock()
		for _, m := range msgs {
			r.lanes.Add(m.msg, lanes.Position{Partition: w.p, Offset: m.seq})
		}
		more = more || len(msgs) == w.limit
	}
	return more, nil
}

// pgFetch reads several partitions of a topic in one query on PostgreSQL, where messages
// carry their payload: $1 the topic, $2–$4 the partitions, the sequence number after which
// each is read, and how many messages of each at most.
const pgFetch = `SELECT w.part, m.seq, m.uuid, m.payload, m.codec, m.metadata
	FROM unnest($2::int[], $3::bigint[], $4::int[]) AS w(part, after, lim)
	CROSS JOIN LATERAL (
		SELECT seq, uuid, payload, codec, metadata FROM bus_messages
		WHERE topic = $1 AND part = w.part AND seq > w.after ORDER BY seq LIMIT w.lim) m`

// readAll returns the messages the wants ask for, per partition in order of sequence, in one
// query.
func (r *reader) readAll(ctx context.Context, wants []want) (got [Partitions][]fetched, err error) {
	parts, cursors, limits := make([]int32, len(wants)), make([]int64, len(wants)), make([]int32, len(wants))
	for i, w := range wants {
		parts[i], cursors[i], limits[i] = int32(w.p), w.cursor, int32(w.limit)
	}
	rows, err := r.bus.db.QueryContext(ctx, pgFetch, r.topic, parts, cursors, limits)
	if err != nil {
		return got, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p, codec int
			seq      int64
			id, meta string
			payload  []byte
		)
		if err := rows.Scan(&p, &seq, &id, &payload, &codec, &meta); err != nil {
			return got, err
		}
		if p < 0 || p >= Partitions {
			return got, fmt.Errorf("message %d: partition %d", seq, p)
		}
		if payload, err = decodePayload(seq, payload, codec); err != nil {
			return got, err
		}
		msg, err := newMessage(seq, id, payload, meta)
		if err != nil {
			return got, err
		}
		got[p] = append(got[p], fetched{seq, msg})
	}
	if err := rows.Err(); err != nil {
		return got, err
	}
	for _, rs := range got {
		// PostgreSQL returns each partition in the lateral query's order, but SQL promises no
		// order without an outer ORDER BY (which would sort the payloads on the server): the
		// watermark needs them in order, so they are sorted here, cheaply when they are.
		slices.SortFunc(rs, func(a, b fetched) int { return cmp.Compare(a.seq, b.seq) })
	}
	return got, nil
}

// fetched is a message read for a subscription, with its sequence number.
type fetched struct {
	seq int64
	msg *message.Message
}

// read returns up to limit messages of partition p after cursor, on SQLite.
func (r *reader) read(ctx context.Context, p int, cursor int64, limit int) ([]fetched, error) {
	rows, err := r.bus.stmts.read.query(ctx, r.topic, p, cursor, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []fetched
	for rows.Next() {
		var (
			seq      int64
			id, meta string
			payload  []byte
			codec    int
		)
		if err := rows.Scan(&seq, &id, &payload, &codec, &meta); err != nil {
			return nil, err
		}
		if payload, err = decodePayload(seq, payload, codec); err != nil {
			return nil, err
		}
		msg, err := newMessage(seq, id, payload, meta)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, fetched{seq, msg})
	}
	return msgs, rows.Err()
}

// newMessage makes the message of the row with sequence number seq.
func newMessage(seq int64, id string, payload []byte, meta string) (*message.Message, error) {
	md, err := parseMetadata(meta)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", seq, err)
	}
	msg := message.NewMessage(id, payload)
	msg.Metadata = md
	return msg, nil
}
