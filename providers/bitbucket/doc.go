// Package bitbucket is the Bitbucket webhook provider, for Bitbucket Cloud and Bitbucket
// Server / Data Center: it verifies their deliveries on the events.http ingress and names the
// sub-topic of each (one per event key).
//
// Configuration is events.modules.bitbucketCloud.webhookSecret and
// events.modules.bitbucketServer.webhookSecret: the webhook's secret, or a list of secrets
// while rotating (any one may match). Without a secret a topic has no verifier and the ingress
// refuses to start unless events.http.topicOptions.<topic>.insecure is true.
//
// Requests to POST /api/events/http/bitbucketCloud and /api/events/http/bitbucketServer (the
// topics must be listed in events.http.topics):
//
//   - X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body> is required (401 without a
//     matching one);
//   - the delivery id is X-Request-UUID (Cloud) or X-Request-Id (Server);
//   - the event key (ordering) is, on Cloud, the payload's repository.full_name; on Server,
//     repository.project.key + "/" + repository.slug, taken from pullRequest.toRef.repository
//     for pull request events, which have no top-level repository; empty when absent.
//
// The ingress publishes each event on its topic and, in the same batch (one transaction on
// the SQL bus, one produce call on Kafka), on <topic>.<X-Event-Key> (bitbucketCloud.repo:push,
// bitbucketServer.repo:refs_changed, bitbucketServer.pr:opened, …) with the same id, key, time,
// payload and metadata, plus event_name_source: unsigned-header, because Bitbucket does not
// sign its headers. Only the keys in CloudEvents or ServerEvents (Atlassian's documented ones)
// and events.http.topicOptions.<topic>.subTopics get a sub-topic; an event with another key
// stays on its topic alone, marked event_name_unknown by the ingress, and one without the
// header stays there unmarked.
package bitbucket
