package github

import (
	"errors"
	"net/http"
	"sort"

	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/catalog"
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

// catalogParams are the entity providers' inputs; the catalog is optional so that the module
// also serves webhooks alone.
type catalogParams struct {
	fx.In
	Lifecycle    fx.Lifecycle
	Providers    Providers
	Integrations Integrations
	Store        *catalog.Store `optional:"true"`
	Logger       zerolog.Logger
}

// newEntityProviders builds one EntityProvider per catalog.providers.github entry, started and
// stopped with the application, and returns their subscriptions.
func newEntityProviders(p catalogParams) ([]eventsvc.Subscription, error) {
	if len(p.Providers) > 0 && p.Store == nil {
		return nil, errors.New("catalog.providers.github needs the catalog module")
	}
	ids := make([]string, 0, len(p.Providers))
	for id := range p.Providers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var subs []eventsvc.Subscription
	for _, id := range ids {
		ep, err := NewEntityProvider(id, p.Providers[id], p.Integrations, p.Store, p.Logger)
		if err != nil {
			return nil, err
		}
		p.Lifecycle.Append(fx.StartStopHook(ep.Start, ep.Stop))
		subs = append(subs, ep.Subscription())
	}
	return subs, nil
}

// Module provides the github ingress source and router (events.modules.github), the catalog
// reader of integrations.github hosts, and the entity providers of catalog.providers.github.
var Module = fx.Module("providers/github",
	config.Provide[Config]("events.modules.github"),
	config.Provide[Integrations]("integrations.github"),
	config.Provide[Providers]("catalog.providers.github"),
	fx.Provide(
		ingress.AsSource(NewSource),
		eventsvc.AsSubscription(NewRouter),
		catalog.AsReader(func(is Integrations) catalog.Reader { return NewReader(is) }),
		eventsvc.AsSubscriptions(newEntityProviders),
	),
)
