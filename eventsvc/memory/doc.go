// Package memory is the in-memory events bus, for one process: Watermill's GoChannel with
// consumer groups and per-key lanes on top.
//
// It keeps nothing across a restart: events queued for a subscription but not yet handled
// when the process stops are lost, and events published to a topic with no subscription are
// dropped. Use the Kafka bus (events.bus: kafka) when events must survive restarts or be
// shared by several instances.
//
// Publish returns once the event is queued for every subscription of its topic (GoChannel
// with BlockPublishUntilSubscriberAck, acknowledged as soon as each group has queued it), so
// publish order is kept. Queues are unbounded: a subscription that cannot keep up makes
// memory grow, watch stagebus_events_in_flight and the handler metrics.
package memory
