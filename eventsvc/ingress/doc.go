// Package ingress is the events bus's inbound HTTP port: POST /api/events/http/{topic} turns
// a webhook into an event on the bus.
//
// For each topic in events.http.topics, a request is answered 202 {"status":"accepted"} only
// after Publish returned (on Kafka: the broker acknowledged). On the way:
//
//   - the body is limited to events.http.maxBodyBytes (413) and must be JSON or GitHub's
//     application/x-www-form-urlencoded payload= form (415 otherwise);
//   - the request is verified on the raw body bytes, in constant time, by the topic's
//     [Verifier] (401 with a JSON error when it fails). A provider module contributes the
//     verifier of its topics ([Source], [AsSource]); other topics use
//     events.http.topicOptions.<topic> (Standard Webhooks or HMAC-SHA256). A listed topic with
//     no verifier fails start-up unless it is marked insecure: true. In production
//     (auth.environment) a webhook secret shorter than 16 characters fails start-up, naming its
//     key; development warns;
//   - the delivery id must be at most 200 printable ASCII characters (400 otherwise), so that
//     nothing the database would refuse reaches it;
//   - the provider's delivery id is deduplicated ([Dedup]): a delivery already on the bus
//     answers 200 {"status":"duplicate"}, one being published answers 409 with Retry-After, and
//     one whose publish failed is accepted when the sender retries;
//   - an optional per-topic token bucket answers 429 with Retry-After;
//   - a publish error or timeout answers 503 with Retry-After: never a 2xx for an event that
//     is not on the bus.
//
// The event's id is the delivery id, its key the provider's ordering key (the repository), its
// payload the JSON body, and its metadata the request headers (lower-cased, without
// credentials and without any source's signature headers, so that nobody who reads the bus
// can replay a request). An event whose name (Source.EventName, usually an unsigned header)
// is neither documented by its provider nor listed in events.http.topicOptions.<topic>.subTopics
// gets no sub-topic: it is marked event_name_unknown: "true" and counted in
// stagebus_ingress_unknown_event_names_total{topic}. No metric has a label a sender chooses.
package ingress
