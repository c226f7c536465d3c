package gitea

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// Topic is the ingress topic of Gitea and Forgejo webhooks.
const Topic = "gitea"

// SubscriptionID is the id of the router subscription.
const SubscriptionID = "gitea-event-router"

// Gitea's headers, and Forgejo's names for them.
const (
	HeaderSignature        = "X-Gitea-Signature"
	HeaderForgejoSignature = "X-Forgejo-Signature"
	HeaderDelivery         = "X-Gitea-Delivery"
	HeaderForgejoDelivery  = "X-Forgejo-Delivery"
	HeaderEvent            = "X-Gitea-Event"
	HeaderForgejoEvent     = "X-Forgejo-Event"
)

// Config is events.modules.gitea.
type Config struct {
	// WebhookSecret is the secret of the Gitea (or Forgejo) webhook, or a list while rotating.
	WebhookSecret ingress.Secrets `yaml:"webhookSecret"`
}

// Validate refuses empty secrets.
func (c Config) Validate() error { return webhook.ValidateSecrets("webhookSecret", c.WebhookSecret) }

// NewSource returns the ingress source of the gitea topic; its Verifier is nil when no secret
// is configured.
func NewSource(cfg Config) ingress.Source {
	return ingress.Source{
		Topic:      Topic,
		Verifier:   webhook.HMAC([]string{HeaderSignature, HeaderForgejoSignature}, "", cfg.WebhookSecret),
		DeliveryID: ingress.HeaderDeliveryID(HeaderDelivery, HeaderForgejoDelivery),
		Inspect: func(_ http.Header, payload []byte) (string, error) {
			return webhook.String(payload, "repository.full_name"), nil
		},
	}
}

// NewRouter returns the subscription that republishes gitea events on gitea.<X-Gitea-Event>,
// or gitea.<X-Forgejo-Event>.
func NewRouter(pub eventsvc.Publisher) eventsvc.Subscription {
	return webhook.Router(SubscriptionID, Topic, pub, webhook.FromMetadata("x-gitea-event", "x-forgejo-event"))
}

// Module provides the gitea ingress source and router from events.modules.gitea.
var Module = fx.Module("providers/gitea",
	config.Provide[Config]("events.modules.gitea"),
	fx.Provide(
		ingress.AsSource(NewSource),
		eventsvc.AsSubscription(NewRouter),
	),
)
