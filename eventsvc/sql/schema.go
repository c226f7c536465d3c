package sqlbus

import (
	"fmt"

	"github.com/stagebus/stagebus/database"
)

// Migrations create the bus tables: the messages, numbered by a global sequence that is never
// reused (SQLite AUTOINCREMENT) and spread over [Partitions] by key; one offset and lease per
// consumer group, topic and partition; the live members of each group and topic, which share
// the partitions out; the keys of publishes made once (eventsvc.Once), kept until they
// expire; in version 2, messages that share another message's payload; and in version 3 the
// handled-at marks of the consumer groups (bus_marks).
var Migrations = []database.Migration{{
	Module:   "eventsvc.sql",
	Version:  1,
	SQLite:   busSchema("INTEGER", " AUTOINCREMENT", "BLOB"),
	Postgres: busSchema("BIGSERIAL", "", "BYTEA"),
}, {
	Module:   "eventsvc.sql",
	Version:  2,
	SQLite:   onceLog + payloadOf,
	Postgres: onceKeys + payloadOf,
}, {
	Module:   "eventsvc.sql",
	Version:  3,
	SQLite:   marksTable + " WITHOUT ROWID",
	Postgres: marksTable,
}}

// marksTable holds the handled-at marks: a row says that by at (Unix nanoseconds) the group's
// watermark of the topic's partition had reached acked, coming from prev, the watermark of
// the partition's previous mark (or the offset the marking reader took the partition at):
// the messages in (prev, acked] were passed at or before at (see reader.go, "Handled-at
// marks"). Readers append at most one a partition per second; lookups and the purge go by the
// primary key, which on SQLite is the table itself (WITHOUT ROWID): no second B-tree to write.
const marksTable = `CREATE TABLE bus_marks (
	grp TEXT NOT NULL,
	topic TEXT NOT NULL,
	part INTEGER NOT NULL,
	acked BIGINT NOT NULL,
	prev BIGINT NOT NULL,
	at BIGINT NOT NULL,
	PRIMARY KEY (grp, topic, part, acked)
)`

// onceLog is bus_once on SQLite: append-only, its keys found through the bus's onceIndex.
const onceLog = `CREATE TABLE bus_once (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	scope TEXT NOT NULL,
	id TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX bus_once_expires_at ON bus_once (expires_at)`

// onceKeys is bus_once on PostgreSQL: one row per key, which its primary key makes unique
// across instances.
const onceKeys = `CREATE TABLE bus_once (
	scope TEXT NOT NULL,
	id TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (scope, id)
);
CREATE INDEX bus_once_expires_at ON bus_once (expires_at)`

// payloadOf lets a message refer to the payload of another message published in the same
// transaction (an event and its sub-topic event), so that the payload is stored once; codec
// says how a payload is stored (0 as it is, 1 compressed with s2).
const payloadOf = `;
ALTER TABLE bus_messages ADD COLUMN payload_of BIGINT;
ALTER TABLE bus_messages ADD COLUMN codec SMALLINT NOT NULL DEFAULT 0`

// busSchema is the bus tables' DDL with the dialect's sequence column and byte type.
func busSchema(seqType, seqSuffix, bytesType string) string {
	return fmt.Sprintf(`
CREATE TABLE bus_messages (
	seq %s PRIMARY KEY%s,
	topic TEXT NOT NULL,
	part INTEGER NOT NULL,
	uuid TEXT NOT NULL,
	payload %s NOT NULL,
	metadata TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX bus_messages_topic_part_seq ON bus_messages (topic, part, seq);
CREATE INDEX bus_messages_created_at ON bus_messages (created_at);
CREATE TABLE bus_offsets (
	grp TEXT NOT NULL,
	topic TEXT NOT NULL,
	part INTEGER NOT NULL,
	acked BIGINT NOT NULL,
	owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (grp, topic, part)
);
CREATE TABLE bus_members (
	grp TEXT NOT NULL,
	topic TEXT NOT NULL,
	owner TEXT NOT NULL,
	seen_until BIGINT NOT NULL,
	PRIMARY KEY (grp, topic, owner)
);`, seqType, seqSuffix, bytesType)
}
