// Package github is GitHub's events module (Backstage's events-backend-module-github): it
// verifies GitHub's deliveries on the events.http ingress and routes them to a sub-topic per
// event type. GitHub's catalog module — the entity provider and the URL reader — is the
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
// The router subscription github-event-router republishes every event of the github topic
// on github.<X-GitHub-Event> (github.push, github.pull_request, github.repository, …) with the
// same id, key, payload and metadata, plus event_name_source: unsigned-header, because GitHub
// does not sign its headers — only for the event names GitHub documents ([Events]) and those
// events.http.topicOptions.github.subTopics adds. Any other name, or none, stays on the github
// topic only (ingress marks it event_name_unknown and counts it), so an unsigned header cannot
// create topics.
package github
