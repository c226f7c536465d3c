// Package kafka is the Apache Kafka events bus (events.bus: kafka): a Watermill Publisher and
// consumer-group Subscriber written on segmentio/kafka-go.
//
// # Publishing
//
// One shared kafka-go Writer with acks=all and a short batch timeout (events.kafka.batchTimeout,
// default 2ms, never kafka-go's 1s default): concurrent publishes share batches, and Publish
// returns only once the broker acknowledged, or fails within events.kafka.publishTimeout. The
// event key is the record key, partitioned with the Murmur2 balancer that Java clients use by
// default, so that other Java producers agree on key → partition (librdkafka-based producers,
// kcat among them, must be set to murmur2_random to agree).
//
// Records carry CloudEvents binary-mode headers: ce_specversion 1.0, ce_id (the event id: the
// webhook delivery id for ingested events), ce_source /stagebus/<topic> (so that source and id
// are unique even when one delivery yields events on two topics), ce_type dev.stagebus.<topic>,
// ce_time; the event metadata travels as further headers. Records produced by other clients are
// read too: without ce_id the event id is kafka:<topic>:<partition>:<offset>.
//
// # Topics
//
// The Kafka topic is events.kafka.topicPrefix + topic, with ':' (which Kafka does not allow)
// written as '_'. With autoCreateTopics (default) a topic is created on first use with
// events.kafka.partitions and replicationFactor (default: 3, or the number of brokers when
// fewer); without it, subscribing to a missing topic fails start-up and publishing to one
// fails, naming the topic.
//
// # Consuming
//
// Each subscription is a consumer group (events.kafka.groupPrefix + id) with a kafka-go Reader
// per topic. Messages are handed to the subscription through per-key lanes (one unacknowledged
// message per key), and an offset is committed only once it and every earlier offset of its
// partition was acknowledged — after the handler succeeded or the event was dead-lettered —
// at most every events.kafka.commitInterval (100ms). A new group starts from the oldest
// retained record. After a restart or a rebalance, consumption resumes from the committed
// offsets: nothing is lost, and at most the uncommitted window (events.kafka.maxInFlight per
// reader, and what was handled since the last commit) is delivered again. A graceful stop
// first handles what the reader fetched and commits it, so that a restart handles none of it
// again. kafka-go gives no revocation callback, so during a rebalance two instances may
// briefly handle records of one partition.
package kafka
