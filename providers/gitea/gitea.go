package gitea

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// Topic is the ingress topic of Gitea and Forgejo webhooks.
const Topic = "gitea"

// Gitea's headers, and Forgejo's names for them.
const (
	HeaderSignature        = "X-Gitea-Signature"
	HeaderForgejoSignature = "X-Forgejo-Signature"
	HeaderDelivery         = "X-Gitea-Delivery"
	HeaderForgejoDelivery  = "X-Forgejo-Delivery"
	HeaderEvent            = "X-Gitea-Event"
	HeaderForgejoEvent     = "X-Forgejo-Event"
)

// HeaderGogsSignature is the signature header of the Gogs format, which Gitea sends too.
const HeaderGogsSignature = "X-Gogs-Signature"

// SecretKey is the configuration key of the webhook secret.
const SecretKey = "events.modules.gitea.webhookSecret"

// Events are the X-Gitea-Event (and X-Forgejo-Event) values: Gitea's hook event types and
// the names they are sent under, from modules/webhook/type.go of Gitea
// (https://github.com/go-gitea/gitea/blob/main/modules/webhook/type.go; "Webhooks",
// https://docs.gitea.com/usage/webhooks). Only these get a sub-topic gitea.<event>;
// events.http.topicOptions.gitea.subTopics adds newer ones.
var Events = []string{
	"create", "delete", "fork", "push", "issues", "issue_assign", "issue_label",
	"issue_milestone", "issue_comment", "pull_request", "pull_request_assign",
	"pull_request_label", "pull_request_milestone", "pull_request_comment",
	"pull_request_review_approved", "pull_request_review_rejected", "pull_request_review_comment",
	"pull_request_sync", "pull_request_review_request", "pull_request_approved",
	"pull_request_rejected", "wiki", "repository", "release", "package", "status",
	"workflow_run", "workflow_job", "schedule",
}

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
		EventName:       webhook.FromHeader(HeaderEvent, HeaderForgejoEvent),
		EventNameSource: ingress.FromUnsignedHeader,

		KnownEvents:      Events,
		SignatureHeaders: []string{HeaderSignature, HeaderForgejoSignature, HeaderGogsSignature},
		Secrets:          []ingress.SecretSetting{{Key: SecretKey, Values: cfg.WebhookSecret}},
	}
}

// Module provides the gitea ingress source from events.modules.gitea; with it the ingress
// verifies Gitea's and Forgejo's deliveries and publishes each on gitea and its sub-topic.
var Module = fx.Module("providers/gitea",
	config.Provide[Config]("events.modules.gitea"),
	fx.Provide(ingress.AsSource(NewSource)),
)
