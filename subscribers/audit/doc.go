// Package audit is the audit log: an append-only, hash-chained table in the shared database
// that keeps auth's audit records, written through a batching [Writer] and anchored outside
// the database by checkpoints. docs/audit.md describes what it promises.
//
// # Writing
//
// The module provides a [Writer] under the fx name "auditLog" ([WriterName]) as an
// eventsvc.Publisher; the auth module hands it every record and answers the request once
// Publish returns, that is once the record is committed. The writer group-commits
// concurrent records (at most auth.audit.maxBatch of their own per commit), aggregates
// failed records beyond that per (event, reason, address) with a bounded key table instead
// of dropping them, and publishes the committed rows on topic auth.audit. The module also
// subscribes to auth.audit (subscription id audit-log) and appends records that other
// publishers send; rows the writer has committed are recognised by their message id.
//
// # The chain
//
// Each row of audit_log has an id counting from 1, the bus event's id (message_id, unique:
// a redelivered event is not stored twice), the record's indexed fields, the record's JSON,
// prev_hash (the previous row's hash; [GenesisHash] for the first) and hash, the SHA-256 of
// prev_hash and a length-prefixed encoding of every column ([Hash]). Appends are serialised in
// a transaction — a PostgreSQL advisory lock, SQLite's immediate transactions — so the chain
// stays linear with any number of writers and instances. Triggers refuse UPDATE and DELETE;
// someone who drops them and edits or deletes a row is found by [Verify], which names the
// first row that does not verify. Removing rows from the end of the chain, or re-hashing
// every row after an edited one, is found only against a [Checkpoint] taken before: the
// [Checkpointer] logs, publishes (topic auth.audit.checkpoint) and exposes the chain's head
// every auth.audit.checkpointInterval, and [Verify] checks the checkpoints it is given.
//
// # Routes and command
//
// GET /api/audit/events (admins; filter by actor, eventId, status, from/to; paginated,
// newest first), GET /api/audit/verify?checkpoint=ROWS:HASH (admins; {"ok", "checked",
// "firstBrokenId", "reason"}) and POST /api/audit/checkpoint (admins; takes a checkpoint
// now and returns it). [RunVerify] is `platform audit verify [--checkpoint ROWS:HASH]...`.
package audit
