// Package gitea is the Gitea and Forgejo webhook provider: it verifies their deliveries on the
// events.http ingress and names the sub-topic of each (one per event type).
//
// Configuration is events.modules.gitea.webhookSecret: the webhook's secret, or a list of
// secrets while rotating (any one may match). Without a secret the topic has no verifier and
// the ingress refuses to start unless events.http.topicOptions.gitea.insecure is true.
//
// Requests to POST /api/events/http/gitea (the topic must be listed in events.http.topics):
//
//   - X-Gitea-Signature, or X-Forgejo-Signature when that is absent: the bare hex HMAC-SHA256
//     of the raw body (no prefix), is required (401 without a matching one);
//   - the delivery id is X-Gitea-Delivery, else X-Forgejo-Delivery;
//   - the event key (ordering) is the payload's repository.full_name (empty when absent).
//
// The ingress publishes each event on the gitea topic and, in the same batch (one transaction
// on the SQL bus, one produce call on Kafka), on gitea.<X-Gitea-Event> (or X-Forgejo-Event):
// gitea.push, gitea.pull_request, gitea.create, … with the same id, key, time, payload and
// metadata, plus event_name_source: unsigned-header, because Gitea does not sign its headers.
// Only the names in Events (Gitea's hook event types) and
// events.http.topicOptions.gitea.subTopics get a sub-topic; an event with another name stays
// on gitea alone, marked event_name_unknown by the ingress, and one with neither header stays
// there unmarked.
package gitea
