// Package sqlbus is the durable events bus on the configured database (backend.database:
// SQLite or PostgreSQL), selected by events.bus: sql.
//
// Every published message is one row of bus_messages, numbered by a global sequence that
// commits in order (PostgreSQL: publishes take a transaction-scoped advisory lock; SQLite
// serialises writers). Each consumer group (subscription id) keeps, per topic, one row of
// bus_offsets: the highest sequence below which everything was acknowledged, and a lease
// naming the instance that consumes it. One instance at a time holds a group's lease on a
// topic and hands the messages to its members through per-key lanes (order per key, a
// nacked message delivered again before the next of its key); the others wait and take over
// when the lease is released (Close) or expires (a killed instance). Delivery is at least
// once: after a crash the messages after the last recorded offset are delivered again.
//
// A publish wakes this process's readers at once; on PostgreSQL other instances are woken by
// LISTEN/NOTIFY. events.sql.pollInterval is only the fallback. Messages older than
// events.sql.retention are purged on a schedule; a group that had not handled them is
// reported (metric stagebus_events_sql_behind_retention_total and a warning), never skipped
// silently.
//
// [History] reads the messages kept — the event history, written by the SQL bus and by the
// outbox in front of Kafka — for the operator console: lists, a message with its payload, an
// event id's messages, where each consumer group stands and how far behind it is.
package sqlbus
