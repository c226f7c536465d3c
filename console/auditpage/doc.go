// Package auditpage is the Audit log page of the operator console, for admins (like the
// audit API routes): the hash-chained audit log of subscribers/audit, newest first, filtered
// by actor, event id, status and time range (what audit.Store.List offers, as GET
// /api/audit/events does) and paged with the store's cursor; each record's request, actor
// details and meta behind a disclosure.
//
// Its chain panel verifies the chain on demand (POST /audit/verify, synchronously, the
// verification of GET /api/audit/verify) against the last checkpoint — the newest
// auth.audit.checkpoint event of the event history, which any instance may have published,
// else the last one this process took — and takes a checkpoint now (POST /audit/checkpoint,
// audited as console-audit-checkpoint).
package auditpage
