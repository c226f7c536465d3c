// Package deadletter keeps the events whose handlers failed on their last attempt, in the
// database whatever the bus, so that they survive restarts and can be inspected, replayed to
// their subscription, or discarded. Records older than events.deadLetters.retention (default
// 14 days) are purged on a schedule.
//
// Routes (admins only): GET /api/events/dead-letters (filter by topic and
// subscription, paginated), POST /api/events/dead-letters/{id}/replay (hands the event to its
// subscription's handler again; the record is removed once it was handled or dead-lettered
// anew), DELETE /api/events/dead-letters/{id}. In-process callers such as the operator
// console use the Store and API.Replay, which the module provides.
package deadletter
