package sqlbus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
)

// ErrNotFound means that no message has the sequence number (never stored, or purged).
var ErrNotFound = errors.New("message not found")

const (
	// defaultPage is the number of entries of Recent, After and FindID when their limit is 0
	// or less; maxPage is the most they return.
	defaultPage, maxPage = 50, 500
	// FindIDWindow is how many of the newest sequence numbers FindID searches at most.
	FindIDWindow = 200_000
	// findIDChunk is how many sequence numbers one statement of FindID searches, so that each
	// statement is short (SQLite's WAL checkpoints wait for readers) and a search that finds
	// enough among recent messages stops early.
	findIDChunk = 10_000
	// LagCap is how many waiting messages Lag counts at most per partition: counting is what
	// it costs, and a backlog of 10 000 is news enough.
	LagCap = 10_001
)

// The states of a message for a consumer group, in [Handling].
const (
	// StateHandled: the group's watermark passed the message; it was handled (or
	// dead-lettered, which the watermark does not tell apart).
	StateHandled = "handled"
	// StatePending: the message is queued, retrying, or handled but behind an earlier message
	// of its partition that is not (the watermark is contiguous).
	StatePending = "pending"
	// StateDeadLettered: the group's handler gave up on the message; set by
	// [MarkDeadLettered], never by Handling.
	StateDeadLettered = "dead-lettered"
	// StateNotStarted: a declared subscription that never started reading the topic.
	StateNotStarted = "not-started"
)

// History reads the event history: the rows of bus_messages, which hold every message
// published on the SQL bus and, on Kafka with events.kafka.outbox, every message published
// through the outbox (relayed or not), until events.sql.retention purges them. On the memory
// bus and on Kafka without the outbox they hold only the events published in a database
// transaction (eventsvc.Service.PublishTx, the catalog's): the caller tells which from the
// configuration.
//
// History only reads, with short statements driven by the indexes. The lists (Recent, After,
// FindID) select no payload, only Get does (on SQLite the metadata are stored after the
// payload, so a payload too large for its page is still read through). It is safe for
// concurrent use and needs the bus tables ([Migrations]), nothing else: no bus has to be
// started.
type History struct {
	db *database.DB
}

// NewHistory returns the history of db, migrated with [Migrations].
func NewHistory(db *database.DB) *History { return &History{db: db} }

// Entry is one message of the history, without its payload.
type Entry struct {
	// Seq is the message's sequence number: its place in the order of commits.
	Seq int64
	// Topic and Partition are where it was published (Partition from the ordering key).
	Topic     string
	Partition int
	// ID is the event id: for a webhook the sender's delivery id, shared by the event on the
	// topic and its sub-topic event.
	ID string
	// Key is the ordering key, "" for none.
	Key string
	// Time is when the event happened (its metadata), or when it was stored when it has none.
	Time time.Time
	// Metadata are the event's metadata without the bus's own (eventsvc.ReservedMetadataPrefix).
	Metadata map[string]string
}

// Message is an entry with its payload, as it was published.
type Message struct {
	Entry
	Payload []byte
}

// entryColumns are the columns scanned by scanEntries; they leave out the payload.
const entryColumns = `seq, topic, part, uuid, metadata, created_at`

// newEntry makes the entry of a row: the key and the time come out of the metadata.
func newEntry(seq int64, topic string, part int, id, meta string, createdAt int64) (Entry, error) {
	md, err := parseMetadata(meta)
	if err != nil {
		return Entry{}, fmt.Errorf("events.sql: message %d: %w", seq, err)
	}
	e := Entry{Seq: seq, Topic: topic, Partition: part, ID: id, Time: time.Unix(0, createdAt).UTC(), Metadata: md}
	for k, v := range md {
		if !strings.HasPrefix(k, eventsvc.ReservedMetadataPrefix) {
			continue
		}
		switch k {
		case eventsvc.MetaKeyHeader:
			e.Key = v
		case eventsvc.MetaTimeHeader:
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				e.Time = time.Unix(0, ns).UTC()
			}
		}
		delete(md, k)
	}
	return e, nil
}

// scanEntries reads rows of entryColumns.
func scanEntries(rows *sql.Rows) ([]Entry, error) {
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			seq, createdAt  int64
			part            int
			topic, id, meta string
		)
		if err := rows.Scan(&seq, &topic, &part, &id, &meta, &createdAt); err != nil {
			return nil, fmt.Errorf("events.sql: history: %w", err)
		}
		e, err := newEntry(seq, topic, part, id, meta, createdAt)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events.sql: history: %w", err)
	}
	return out, nil
}

// page bounds a limit to [1, maxPage], defaultPage for 0 or less.
func page(limit int) int {
	if limit <= 0 {
		return defaultPage
	}
	return min(limit, maxPage)
}

// topicsQuery lists the distinct topics by a loose index scan of (topic, part, seq): each
// step seeks the first topic after the previous one, so that it reads one index entry per
// topic rather than every message.
const topicsQuery = `WITH RECURSIVE t(topic) AS (
	SELECT MIN(topic) FROM bus_messages
	UNION ALL
	SELECT (SELECT MIN(m.topic) FROM bus_messages m WHERE m.topic > t.topic) FROM t WHERE t.topic IS NOT NULL
)
SELECT topic FROM t WHERE topic IS NOT NULL`

// Topics returns the topics that have messages, in the database's order of text.
func (h *History) Topics(ctx context.Context) ([]string, error) {
	rows, err := h.db.QueryContext(ctx, topicsQuery)
	if err != nil {
		return nil, fmt.Errorf("events.sql: history topics: %w", err)
	}
	defer rows.Close()
	var topics []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("events.sql: history topics: %w", err)
		}
		topics = append(topics, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events.sql: history topics: %w", err)
	}
	return topics, nil
}

// recentOfTopic reads a topic's newest messages before $2 (at most $3): the sequence
// numbers first, the newest of each partition read backwards along (topic, part, seq) and
// merged — a single ORDER BY seq over the topic could not follow that index, which orders by
// partition first — then those rows. Reading only sequence numbers lets the index answer
// alone (SQLite: a covering index; PostgreSQL: an index-only scan). On PostgreSQL that is
// what makes the index the cheaper plan, once autovacuum has marked most of this
// append-only table all-visible: reading whole rows, the planner prefers a backward scan of
// the primary key that filters on topic and partition (the heap is in seq order), which on a
// partition without messages of the topic reads the whole table.
var recentOfTopic = func() string {
	parts := make([]string, Partitions)
	for p := range Partitions {
		parts[p] = fmt.Sprintf(`SELECT seq FROM (SELECT seq FROM bus_messages WHERE topic = $1 AND part = %d AND seq < $2 ORDER BY seq DESC LIMIT $3) p%d`, p, p)
	}
	return `SELECT ` + entryColumns + ` FROM bus_messages WHERE seq IN (
	SELECT seq FROM (` + strings.Join(parts, "\n\tUNION ALL ") + `) s ORDER BY seq DESC LIMIT $3)
ORDER BY seq DESC`
}()

// Recent returns the newest messages, newest first: of topic ("" for every topic), before
// sequence number before (0 or less for the newest), at most limit (default 50, at most 500).
// The next page is the one before the last entry's Seq.
func (h *History) Recent(ctx context.Context, topic string, before int64, limit int) ([]Entry, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	var rows *sql.Rows
	var err error
	if topic == "" {
		rows, err = h.db.QueryContext(ctx, `SELECT `+entryColumns+` FROM bus_messages WHERE seq < $1 ORDER BY seq DESC LIMIT $2`, before, page(limit))
	} else {
		rows, err = h.db.QueryContext(ctx, recentOfTopic, topic, before, page(limit))
	}
	if err != nil {
		return nil, fmt.Errorf("events.sql: history: %w", err)
	}
	return scanEntries(rows)
}

// After returns the messages after sequence number after, oldest first, at most limit
// (default 50, at most 500): a live tail starts after [History.Last] and goes on after the
// last entry it got. Sequence numbers commit in order (see the package documentation), so
// a tail misses nothing.
func (h *History) After(ctx context.Context, after int64, limit int) ([]Entry, error) {
	rows, err := h.db.QueryContext(ctx, `SELECT `+entryColumns+` FROM bus_messages WHERE seq > $1 ORDER BY seq LIMIT $2`, after, page(limit))
	if err != nil {
		return nil, fmt.Errorf("events.sql: history: %w", err)
	}
	return scanEntries(rows)
}

// Last returns the highest sequence number stored, 0 when there are no messages.
func (h *History) Last(ctx context.Context) (int64, error) {
	var last int64
	if err := h.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM bus_messages`).Scan(&last); err != nil {
		return 0, fmt.Errorf("events.sql: history: %w", err)
	}
	return last, nil
}

// Get returns message seq with its payload as it was published (decompressed, or read from
// the message whose payload it shares), or ErrNotFound.
func (h *History) Get(ctx context.Context, seq int64) (Message, error) {
	var (
		createdAt       int64
		part, codec     int
		topic, id, meta string
		payload         []byte
	)
	err := h.db.QueryRowContext(ctx, `SELECT m.topic, m.part, m.uuid, m.metadata, m.created_at, `+payloadColumns+`
		FROM bus_messages m WHERE m.seq = $1`, seq).
		Scan(&topic, &part, &id, &meta, &createdAt, &payload, &codec)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("events.sql: message %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("events.sql: message %d: %w", seq, err)
	}
	e, err := newEntry(seq, topic, part, id, meta, createdAt)
	if err != nil {
		return Message{}, err
	}
	if payload, err = decodePayload(seq, payload, codec); err != nil {
		return Message{}, fmt.Errorf("events.sql: %w", err)
	}
	if payload == nil {
		payload = []byte{}
	}
	return Message{Entry: e, Payload: payload}, nil
}

// FindID returns the messages whose event id is id, newest first, at most limit (default 50,
// at most 500): for a webhook the event on its topic and on its sub-topic, which share the
// sender's delivery id.
//
// Event ids have no index (a B-tree of random keys would cost every publish a page write), so
// FindID scans the primary key: the newest [FindIDWindow] sequence numbers at most, newest
// first, in statements of 10 000 each, stopping once more than limit matched. bounded
// reports that there may be more: older messages exist that it did not search (beyond the
// window), or more than limit matched. A miss that is bounded is no proof that the event is
// not in the history.
func (h *History) FindID(ctx context.Context, id string, limit int) (found []Entry, bounded bool, err error) {
	if id == "" {
		return nil, false, nil
	}
	limit = page(limit)
	var oldest, last int64
	if err := h.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM bus_messages`).Scan(&oldest, &last); err != nil {
		return nil, false, fmt.Errorf("events.sql: find %s: %w", id, err)
	}
	floor := max(last-FindIDWindow, 0) // the window is (floor, last]
	hi := last                         // (hi, last] is searched
	for hi > floor {
		lo := max(hi-findIDChunk, floor)
		// One more than wanted tells whether the limit left matches out.
		rows, err := h.db.QueryContext(ctx, `SELECT `+entryColumns+` FROM bus_messages WHERE seq > $1 AND seq <= $2 AND uuid = $3 ORDER BY seq DESC LIMIT $4`,
			lo, hi, id, limit-len(found)+1)
		if err != nil {
			return nil, false, fmt.Errorf("events.sql: find %s: %w", id, err)
		}
		got, err := scanEntries(rows)
		if err != nil {
			return nil, false, err
		}
		if len(found)+len(got) > limit {
			return append(found, got[:limit-len(found)]...), true, nil
		}
		found = append(found, got...)
		hi = lo
	}
	return found, oldest > 0 && oldest <= hi, nil
}

// DeadLettered is what [Handling] shows of a dead letter: the caller reads it from the
// dead-letter store (eventsvc/deadletter), which this package does not import (it serves
// HTTP, which the bus does not depend on).
type DeadLettered struct {
	// ID is the dead letter's id in the store.
	ID       string
	Error    string
	Attempts int
	FailedAt time.Time
}

// Handling is where one consumer group (a subscription id) stands with a message.
type Handling struct {
	Group string
	// State is StateHandled, StatePending, StateNotStarted or, set by MarkDeadLettered,
	// StateDeadLettered.
	State string
	// HandledBy is, with StateHandled, when the group had handled the message by (or given
	// it up to the dead letters), from its handled-at marks (bus_marks): the message was
	// handled at or before HandledBy, and HandledBy is at most about MarkBound (1.02 s) after
	// the group's watermark passed the message — once it and every earlier message of its
	// partition were handled — plus the time the database took to take the write. It is zero
	// when that is not known: the message was passed before the marks existed (migration
	// eventsvc.sql 3), by an instance that stopped without marking it (killed, or its lease
	// taken over), or so recently that it is not marked yet (within MarkBound).
	HandledBy time.Time
	// Active: an instance is a live member of the group on the message's topic (its
	// membership is renewed, events.sql.leaseTimeout).
	Active bool
	// DeadLetter is set with StateDeadLettered.
	DeadLetter *DeadLettered
}

// Handling returns where each consumer group that reads message seq's topic on the SQL bus
// stands with it, by group: StateHandled when the group's watermark of the message's
// partition is at or past it, with HandledBy from the group's first mark at or past it (an
// index lookup), StatePending otherwise; and StateNotStarted for each of
// declared (the ids of the subscriptions to the topic) that has not read the topic yet. The
// outbox's relay is not a group. On Kafka (with the outbox) no group reads bus_messages:
// only the declared subscriptions come back, all not started. Dead letters are merged by the
// caller with [MarkDeadLettered]. It returns ErrNotFound when the message is not stored.
func (h *History) Handling(ctx context.Context, seq int64, declared ...string) ([]Handling, error) {
	var topic string
	var part int
	err := h.db.QueryRowContext(ctx, `SELECT topic, part FROM bus_messages WHERE seq = $1`, seq).Scan(&topic, &part)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("events.sql: message %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("events.sql: handling of %d: %w", seq, err)
	}
	rows, err := h.db.QueryContext(ctx, handlingQuery, topic, part, relayGroup, time.Now().UnixNano(), seq)
	if err != nil {
		return nil, fmt.Errorf("events.sql: handling of %d: %w", seq, err)
	}
	defer rows.Close()
	var out []Handling
	seen := map[string]bool{}
	for rows.Next() {
		var hd Handling
		var acked int64
		var by sql.NullInt64
		if err := rows.Scan(&hd.Group, &acked, &hd.Active, &by); err != nil {
			return nil, fmt.Errorf("events.sql: handling of %d: %w", seq, err)
		}
		hd.State = StatePending
		if seq <= acked {
			hd.State = StateHandled
			if by.Valid {
				hd.HandledBy = time.Unix(0, by.Int64).UTC()
			}
		}
		seen[hd.Group] = true
		out = append(out, hd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events.sql: handling of %d: %w", seq, err)
	}
	for _, g := range declared {
		if !seen[g] {
			seen[g] = true
			out = append(out, Handling{Group: g, State: StateNotStarted})
		}
	}
	slices.SortFunc(out, func(a, b Handling) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}

// handlingQuery reads the groups' offsets of topic $1's partition $2 (the relay, $3, left
// out), whether each has a live member (renewed after $4), and when it had passed message $5
// by: the time of its first mark at or past $5 — a seek in bus_marks' primary key — unless
// that mark starts at or past $5 (prev), which means that $5 was passed before the chain of
// marks began, at a time not recorded.
const handlingQuery = `SELECT o.grp, o.acked,
		EXISTS (SELECT 1 FROM bus_members b WHERE b.grp = o.grp AND b.topic = o.topic AND b.seen_until > $4),
		(SELECT CASE WHEN k.prev < $5 THEN k.at END FROM bus_marks k
			WHERE k.grp = o.grp AND k.topic = o.topic AND k.part = o.part AND k.acked >= $5 AND o.acked >= $5
			ORDER BY k.acked LIMIT 1)
	FROM bus_offsets o WHERE o.topic = $1 AND o.part = $2 AND o.grp <> $3 ORDER BY o.grp`

// MarkDeadLettered returns hs with group's handling marked dead-lettered by d (added when
// hs has no row for group: a subscription of another backend). Call it for each dead letter
// of the message's event id and topic; the dead letters of its sub-topic event, which has the
// same id, belong to that message.
func MarkDeadLettered(hs []Handling, group string, d DeadLettered) []Handling {
	for i := range hs {
		if hs[i].Group == group {
			hs[i].State, hs[i].DeadLetter = StateDeadLettered, &d
			return hs
		}
	}
	return append(hs, Handling{Group: group, State: StateDeadLettered, DeadLetter: &d})
}

// Lag is how far one consumer group is behind on one topic of the SQL bus.
type Lag struct {
	Group, Topic string
	// Pending counts the messages after the group's watermarks, each partition's up to LagCap.
	Pending int64
	// Capped: some partition has LagCap messages waiting or more; Pending is a lower bound.
	Capped bool
	// Oldest is when the oldest waiting message was stored, zero when none waits.
	Oldest time.Time
}

// lagQuery counts, per group, topic and partition, the messages after the watermark up to
// $2, and reads the first one's time: two range scans of (topic, part, seq) a partition that
// read only the index (see recentOfTopic), and one row.
const lagQuery = `SELECT o.grp, o.topic,
	(SELECT COUNT(*) FROM (SELECT m.seq FROM bus_messages m WHERE m.topic = o.topic AND m.part = o.part AND m.seq > o.acked ORDER BY m.seq LIMIT $2) w),
	(SELECT f.created_at FROM bus_messages f WHERE f.seq = (
		SELECT m.seq FROM bus_messages m WHERE m.topic = o.topic AND m.part = o.part AND m.seq > o.acked ORDER BY m.seq LIMIT 1))
	FROM bus_offsets o WHERE o.grp <> $1 ORDER BY o.grp, o.topic`

// Lag returns, for each consumer group and topic of the SQL bus (the outbox's relay left
// out), the messages the group has not passed yet, by group and topic. It reads up to LagCap
// index entries per partition: callers showing it often should cache it for a few seconds.
func (h *History) Lag(ctx context.Context) ([]Lag, error) {
	rows, err := h.db.QueryContext(ctx, lagQuery, relayGroup, LagCap)
	if err != nil {
		return nil, fmt.Errorf("events.sql: lag: %w", err)
	}
	defer rows.Close()
	var out []Lag
	for rows.Next() {
		var (
			group, topic string
			n            int64
			oldest       sql.NullInt64
		)
		if err := rows.Scan(&group, &topic, &n, &oldest); err != nil {
			return nil, fmt.Errorf("events.sql: lag: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Group != group || out[len(out)-1].Topic != topic {
			out = append(out, Lag{Group: group, Topic: topic})
		}
		l := &out[len(out)-1]
		l.Pending += n
		l.Capped = l.Capped || n >= LagCap
		if oldest.Valid {
			if t := time.Unix(0, oldest.Int64).UTC(); l.Oldest.IsZero() || t.Before(l.Oldest) {
				l.Oldest = t
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events.sql: lag: %w", err)
	}
	return out, nil
}
