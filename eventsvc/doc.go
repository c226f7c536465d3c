// Package eventsvc is Stagebus's EventsService: modules publish [Event]s to topics and
// subscribe to topics with [Subscription]s, on a bus backend chosen by events.bus (memory or
// kafka) that is a Watermill Publisher/Subscriber.
//
// # Subscriptions
//
// A module declares its subscriptions as values and contributes them with [AsSubscription];
// the eventsvc module starts every declared subscription in OnStart and drains it in OnStop.
// [Service.Subscribe] starts one at run time and returns a handle to close. No module
// implements an interface that the bus calls.
//
// # Delivery semantics
//
//   - The subscription id is the consumer group: each id gets each event once (across every
//     instance sharing the bus); different ids each get every event.
//   - At least once: a handler error or panic is retried with exponential backoff and jitter
//     (events.retry); after the last attempt the event is written to the dead-letter store with
//     the error, the attempts, the subscription id and the topic, and only then acknowledged.
//   - Order per key: events with the same [Event.Key] reach a subscription one at a time, in
//     publish order; events with different keys are handled in parallel up to the
//     subscription's concurrency.
//   - Metadata, the correlation id and the W3C traceparent travel with the event, and the
//     handler's context carries them and a zerolog logger with them as fields.
//
// Stopping waits for in-flight handlers; events queued but not started are left to the
// backend (Kafka delivers them again after a restart; the memory bus keeps nothing).
package eventsvc
