// Package audit is the audit log: it subscribes to topic auth.audit (subscription id
// audit-log) and appends every record to an append-only, hash-chained table in the shared
// database.
//
// # The chain
//
// Each row of audit_log has an id counting from 1, the bus event's id (message_id, unique:
// a redelivered event is not stored twice), the record's indexed fields, the record's JSON,
// prev_hash (the previous row's hash; [GenesisHash] for the first) and hash, the SHA-256 of
// prev_hash and a length-prefixed encoding of every column ([Hash]). Appends are serialised in
// a transaction — a PostgreSQL advisory lock, SQLite's immediate transactions — so the chain
// stays linear with any number of handlers and instances. Triggers refuse UPDATE and DELETE;
// someone who drops them and edits or deletes a row is found by [Verify], which names the
// first row that does not verify. Removing rows from the end of the chain is not detectable
// from the chain alone.
//
// # Routes and command
//
// GET /api/audit/events (admins; filter by actor, eventId, status, from/to; paginated,
// newest first) and GET /api/audit/verify (admins; {"ok", "checked", "firstBrokenId"}).
// [RunVerify] is `platform audit verify`.
package audit
