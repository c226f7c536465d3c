// Package github is GitHub's events module (Backstage's events-backend-module-github): it
// verifies GitHub's deliveries on the events.http ingress and names the sub-topic of each (one
// per event type). GitHub's catalog module — the entity provider and the URL reader — is the
// discovery package below this one.
//
// Configuration is events.modules.github.webhookSecret: the webhook's secret, or a list of
// secrets while rotating (any one may match). Without a secret the topic has no verifier and
// the ingress refuses to start unless events.http.topicOptions.github.insecure is true.
//
// Requests to POST /api/events/http/github (the topic must be listed in events.http.topics):
//
//   - X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body> is required (401 without a
//     matching one); the legacy SHA-1 X-Hub-Signature is not accepted;
//   - X-GitHub-Delivery is the delivery id: the event id and the deduplication key;
//   - the event key (ordering) is the payload's repository.full_name, else
//     organization.login for organisation-level events, else empty.
//
// The ingress publishes each event on the github topic and, in the same batch (one
// transaction on the SQL bus, one produce call on Kafka), on github.<X-GitHub-Event>
// (github.push, github.pull_request, github.repository, …) with the same id, key, time, payload
// and metadata, plus event_name_source: unsigned-header, because GitHub does not sign its
// headers — only for the event names GitHub documents ([Events]) and those
// events.http.topicOptions.github.subTopics adds. An event with any other name stays on the
// github topic alone, marked event_name_unknown and counted by the ingress, so an unsigned
// header cannot create topics; one without the header stays there unmarked.
package github
