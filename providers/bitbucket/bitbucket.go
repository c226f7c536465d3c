package bitbucket

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// The ingress topics.
const (
	TopicCloud  = "bitbucketCloud"
	TopicServer = "bitbucketServer"
)

// Bitbucket's headers.
const (
	HeaderSignature      = "X-Hub-Signature"
	HeaderEventKey       = "X-Event-Key"
	HeaderCloudDelivery  = "X-Request-UUID"
	HeaderServerDelivery = "X-Request-Id"
)

// The configuration keys of the secrets.
const (
	CloudSecretKey  = "events.modules.bitbucketCloud.webhookSecret"
	ServerSecretKey = "events.modules.bitbucketServer.webhookSecret"
)

// CloudEvents are the X-Event-Key values of Bitbucket Cloud, from "Event payloads"
// (https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/). Only these get a
// sub-topic bitbucketCloud.<key>; events.http.topicOptions.bitbucketCloud.subTopics adds
// newer ones.
var CloudEvents = []string{
	"repo:push", "repo:fork", "repo:updated", "repo:transfer", "repo:deleted", "repo:imported",
	"repo:commit_comment_created", "repo:commit_status_created", "repo:commit_status_updated",
	"issue:created", "issue:updated", "issue:comment_created",
	"pullrequest:created", "pullrequest:updated", "pullrequest:changes_request_created",
	"pullrequest:changes_request_removed", "pullrequest:approved", "pullrequest:unapproved",
	"pullrequest:fulfilled", "pullrequest:rejected", "pullrequest:comment_created",
	"pullrequest:comment_updated", "pullrequest:comment_deleted", "pullrequest:comment_resolved",
	"pullrequest:comment_reopened", "project:updated",
}

// ServerEvents are the X-Event-Key values of Bitbucket Server and Data Center, from "Event
// payload" (https://confluence.atlassian.com/bitbucketserver/event-payload-938025882.html).
// Only these get a sub-topic bitbucketServer.<key>;
// events.http.topicOptions.bitbucketServer.subTopics adds newer ones.
var ServerEvents = []string{
	"project:modified",
	"repo:refs_changed", "repo:modified", "repo:forked", "repo:comment:added",
	"repo:comment:edited", "repo:comment:deleted", "mirror:repo_synchronized", "repo:secret_detected",
	"pr:opened", "pr:from_ref_updated", "pr:to_ref_updated", "pr:modified", "pr:reviewer:updated",
	"pr:reviewer:approved", "pr:reviewer:unapproved", "pr:reviewer:needs_work", "pr:merged",
	"pr:declined", "pr:deleted", "pr:comment:added", "pr:comment:edited", "pr:comment:deleted",
	"diagnostics:ping",
}

// CloudConfig is events.modules.bitbucketCloud.
type CloudConfig struct {
	// WebhookSecret is the secret of the Bitbucket Cloud webhook, or a list while rotating.
	WebhookSecret ingress.Secrets `yaml:"webhookSecret"`
}

// Validate refuses empty secrets.
func (c CloudConfig) Validate() error {
	return webhook.ValidateSecrets("webhookSecret", c.WebhookSecret)
}

// ServerConfig is events.modules.bitbucketServer.
type ServerConfig struct {
	// WebhookSecret is the secret of the Bitbucket Server webhook, or a list while rotating.
	WebhookSecret ingress.Secrets `yaml:"webhookSecret"`
}

// Validate refuses empty secrets.
func (c ServerConfig) Validate() error {
	return webhook.ValidateSecrets("webhookSecret", c.WebhookSecret)
}

// NewCloudSource returns the ingress source of the bitbucketCloud topic; its Verifier is nil
// when no secret is configured.
func NewCloudSource(cfg CloudConfig) ingress.Source {
	return ingress.Source{
		Topic:      TopicCloud,
		Verifier:   webhook.HMAC([]string{HeaderSignature}, "sha256=", cfg.WebhookSecret),
		DeliveryID: ingress.HeaderDeliveryID(HeaderCloudDelivery),
		Inspect: func(_ http.Header, payload []byte) (string, error) {
			return webhook.String(payload, "repository.full_name"), nil
		},
		EventName:       webhook.FromHeader(HeaderEventKey),
		EventNameSource: ingress.FromUnsignedHeader,

		KnownEvents:      CloudEvents,
		SignatureHeaders: []string{HeaderSignature},
		Secrets:          []ingress.SecretSetting{{Key: CloudSecretKey, Values: cfg.WebhookSecret}},
	}
}

// NewServerSource returns the ingress source of the bitbucketServer topic; its Verifier is nil
// when no secret is configured.
func NewServerSource(cfg ServerConfig) ingress.Source {
	return ingress.Source{
		Topic:      TopicServer,
		Verifier:   webhook.HMAC([]string{HeaderSignature}, "sha256=", cfg.WebhookSecret),
		DeliveryID: ingress.HeaderDeliveryID(HeaderServerDelivery),
		Inspect: func(_ http.Header, payload []byte) (string, error) {
			return serverKey(payload), nil
		},
		EventName:       webhook.FromHeader(HeaderEventKey),
		EventNameSource: ingress.FromUnsignedHeader,

		KnownEvents:      ServerEvents,
		SignatureHeaders: []string{HeaderSignature},
		Secrets:          []ingress.SecretSetting{{Key: ServerSecretKey, Values: cfg.WebhookSecret}},
	}
}

// serverKey returns PROJECT/slug of the event's repository: the top-level one, or the target
// repository of a pull request.
func serverKey(payload []byte) string {
	for _, repo := range []string{"repository", "pullRequest.toRef.repository"} {
		project, slug := webhook.String(payload, repo+".project.key"), webhook.String(payload, repo+".slug")
		if project != "" && slug != "" {
			return project + "/" + slug
		}
	}
	return ""
}

// Module provides the bitbucketCloud and bitbucketServer ingress sources from
// events.modules.bitbucketCloud and events.modules.bitbucketServer; with them the ingress
// verifies Bitbucket's deliveries and publishes each on its topic and its sub-topic.
var Module = fx.Module("providers/bitbucket",
	config.Provide[CloudConfig]("events.modules.bitbucketCloud"),
	config.Provide[ServerConfig]("events.modules.bitbucketServer"),
	fx.Provide(
		ingress.AsSource(NewCloudSource),
		ingress.AsSource(NewServerSource),
	),
)
