// Package lanes delivers messages to Watermill subscriber channels with at most one
// unacknowledged message per ordering key, which is how the bus backends keep per-key order
// while letting different keys be handled in parallel.
//
// Messages are spread over a fixed number of lanes by the hash of their key (metadata
// eventsvc.MetaKeyHeader; messages without a key share one lane). A lane hands over its next
// message only after the previous one was acked; a nacked message is handed over again (after
// a short pause) before anything behind it. Consumers join as [Member]s, each with its own
// channel; a lane hands each message to one member (lane i to member i mod n), so that a
// consumer group's members share the work without ever holding two messages of one key at
// once. Queues are unbounded: the producer decides how much to let in (the Kafka backend
// bounds its window, the memory bus relies on its callers).
//
// Lanes have no goroutines: a message is handed over by the call that frees its lane, into a
// member's channel that has room for one message per lane. A consumer that promises to call
// [Settle] after each ack or nack (see [ConsumerSettles]; the EventsService's workers do) hands
// over the key's next message itself, so a record costs no goroutine switch beyond the one
// from producer to consumer; for other consumers, a goroutine per hand-over waits for the ack.
//
// [Keys] is the same promise for work that does not come through a dispatcher: a subscription
// takes the key of every event it handles, so that a dead-letter replay waits for a live
// event with its key, and the other way round.
package lanes
