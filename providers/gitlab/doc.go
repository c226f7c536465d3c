// Package gitlab is the GitLab webhook provider: it verifies GitLab's deliveries on the
// events.http ingress and names the sub-topic of each (one per event kind).
//
// Configuration is events.modules.gitlab:
//
//   - webhookSecret: the webhook's secret token, compared in constant time with the
//     X-Gitlab-Token header (GitLab does not sign the body with it);
//   - signingToken: the webhook's signing token (whsec_…), checked as Standard Webhooks:
//     webhook-id, webhook-timestamp within 5 minutes of now, and webhook-signature, an
//     HMAC-SHA256 of "id.timestamp.body".
//
// Each is a string, or a list while rotating (any one may match). When both are configured
// both must pass. With neither the topic has no verifier and the ingress refuses to start
// unless events.http.topicOptions.gitlab.insecure is true.
//
// Requests to POST /api/events/http/gitlab (the topic must be listed in events.http.topics):
//
//   - the delivery id is Idempotency-Key (the same across retries), else X-Gitlab-Event-UUID,
//     else webhook-id;
//   - the event key (ordering) is the payload's project.path_with_namespace (empty for
//     group- and instance-level events);
//   - the unsigned X-Gitlab-Event header must agree with the payload's object_kind, or its
//     event_name when it has no object_kind ("Merge Request Hook" with merge_request, "Job
//     Hook" with build, "Confidential Issue Hook" with issue or work_item, "Member Hook" with a
//     user_… event_name, …), or the request is answered 400. System Hook and Service Hook carry
//     several kinds, and a header GitLab may add later is not known here: those are accepted.
//
// The ingress publishes each event on the gitlab topic and, in the same batch (one transaction
// on the SQL bus, one produce call on Kafka), on gitlab.<object_kind>, else
// gitlab.<event_name> (gitlab.push, gitlab.tag_push, gitlab.merge_request, gitlab.note,
// gitlab.build, gitlab.project_create, …) with the same id, key, time, payload and metadata,
// plus event_name_source: payload. Backstage routes on event_name only, which merge request
// events do not have. Only the names in Events (GitLab's documented ones) and
// events.http.topicOptions.gitlab.subTopics get a sub-topic; an event with another name stays
// on gitlab alone, marked event_name_unknown by the ingress, and one with neither field stays
// there unmarked.
package gitlab
