package github

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// Topic is the ingress topic of GitHub webhooks.
const Topic = "github"

// SubscriptionID is the id of the router subscription.
const SubscriptionID = "github-event-router"

// GitHub's headers.
const (
	HeaderSignature = "X-Hub-Signature-256"
	HeaderDelivery  = "X-GitHub-Delivery"
	HeaderEvent     = "X-GitHub-Event"
)

// Config is events.modules.github.
type Config struct {
	// WebhookSecret is the secret of the GitHub webhook, or a list of secrets while rotating.
	WebhookSecret ingress.Secrets `yaml:"webhookSecret"`
}

// Validate refuses empty secrets.
func (c Config) Validate() error { return webhook.ValidateSecrets("webhookSecret", c.WebhookSecret) }

// NewSource returns the ingress source of the github topic; its Verifier is nil when no secret
// is configured.
func NewSource(cfg Config) ingress.Source {
	return ingress.Source{
		Topic:      Topic,
		Verifier:   webhook.HMAC([]string{HeaderSignature}, "sha256=", cfg.WebhookSecret),
		DeliveryID: ingress.HeaderDeliveryID(HeaderDelivery),
		Inspect:    inspect,
	}
}

// inspect returns the repository's full name, else the organisation's login.
func inspect(_ http.Header, payload []byte) (string, error) {
	if k := webhook.String(payload, "repository.full_name"); k != "" {
		return k, nil
	}
	return webhook.String(payload, "organization.login"), nil
}

// NewRouter returns the subscription that republishes github events on
// github.<X-GitHub-Event>.
func NewRouter(pub eventsvc.Publisher) eventsvc.Subscription {
	return webhook.Router(SubscriptionID, Topic, pub, webhook.FromMetadata("x-github-event"))
}

// Module provides the github ingress source and router from events.modules.github.
var Module = fx.Module("providers/github",
	config.Provide[Config]("events.modules.github"),
	fx.Provide(
		ingress.AsSource(NewSource),
		eventsvc.AsSubscription(NewRouter),
	),
)
