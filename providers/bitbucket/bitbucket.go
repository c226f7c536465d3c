package bitbucket

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// The ingress topics.
const (
	TopicCloud  = "bitbucketCloud"
	TopicServer = "bitbucketServer"
)

// The ids of the router subscriptions.
const (
	CloudSubscriptionID  = "bitbucketCloud-event-router"
	ServerSubscriptionID = "bitbucketServer-event-router"
)

// Bitbucket's headers.
const (
	HeaderSignature      = "X-Hub-Signature"
	HeaderEventKey       = "X-Event-Key"
	HeaderCloudDelivery  = "X-Request-UUID"
	HeaderServerDelivery = "X-Request-Id"
)

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

// NewCloudRouter returns the subscription that republishes bitbucketCloud events on
// bitbucketCloud.<X-Event-Key>.
func NewCloudRouter(pub eventsvc.Publisher) eventsvc.Subscription {
	return webhook.Router(CloudSubscriptionID, TopicCloud, pub, webhook.FromMetadata("x-event-key"))
}

// NewServerRouter returns the subscription that republishes bitbucketServer events on
// bitbucketServer.<X-Event-Key>.
func NewServerRouter(pub eventsvc.Publisher) eventsvc.Subscription {
	return webhook.Router(ServerSubscriptionID, TopicServer, pub, webhook.FromMetadata("x-event-key"))
}

// Module provides the bitbucketCloud and bitbucketServer ingress sources and routers from
// events.modules.bitbucketCloud and events.modules.bitbucketServer.
var Module = fx.Module("providers/bitbucket",
	config.Provide[CloudConfig]("events.modules.bitbucketCloud"),
	config.Provide[ServerConfig]("events.modules.bitbucketServer"),
	fx.Provide(
		ingress.AsSource(NewCloudSource),
		ingress.AsSource(NewServerSource),
		eventsvc.AsSubscription(NewCloudRouter),
		eventsvc.AsSubscription(NewServerRouter),
	),
)
