package discovery

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
)

// entityProviderParams are the entity providers' inputs.
type entityProviderParams struct {
	fx.In
	Lifecycle    fx.Lifecycle
	Providers    Providers
	Integrations Integrations
	Store        *catalog.Store
	Logger       zerolog.Logger
	Registerer   prometheus.Registerer `optional:"true"`
}

// newEntityProviders builds one EntityProvider per catalog.providers.github entry, started and
// stopped with the application, and returns their subscriptions.
func newEntityProviders(p entityProviderParams) ([]eventsvc.Subscription, error) {
	ids := make([]string, 0, len(p.Providers))
	for id := range p.Providers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var subs []eventsvc.Subscription
	for _, id := range ids {
		ep, err := NewEntityProvider(id, p.Providers[id], p.Integrations, p.Store, p.Logger, WithRegisterer(p.Registerer))
		if err != nil {
			return nil, err
		}
		p.Lifecycle.Append(fx.StartStopHook(ep.Start, ep.Stop))
		subs = append(subs, ep.Subscription())
	}
	return subs, nil
}

// orgProviderParams are the organization providers' inputs.
type orgProviderParams struct {
	fx.In
	Lifecycle    fx.Lifecycle
	Providers    OrgProviders
	Integrations Integrations
	Store        *catalog.Store
	Logger       zerolog.Logger
	Registerer   prometheus.Registerer `optional:"true"`
}

// newOrgEntityProviders builds one OrgEntityProvider per catalog.providers.githubOrg entry,
// started and stopped with the application, and returns their subscriptions.
func newOrgEntityProviders(p orgProviderParams) ([]eventsvc.Subscription, error) {
	ids := make([]string, 0, len(p.Providers))
	for id := range p.Providers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var subs []eventsvc.Subscription
	for _, id := range ids {
		op, err := NewOrgEntityProvider(id, p.Providers[id], p.Integrations, p.Store, p.Logger, WithRegisterer(p.Registerer))
		if err != nil {
			return nil, err
		}
		p.Lifecycle.Append(fx.StartStopHook(op.Start, op.Stop))
		subs = append(subs, op.Subscription())
	}
	return subs, nil
}

// Module provides the catalog reader and analyzer of integrations.github hosts, the entity
// providers of catalog.providers.github and the organization providers of
// catalog.providers.githubOrg; it needs the catalog module, and the providers/github module for
// the webhooks that keep the catalog current between full syncs.
var Module = fx.Module("providers/github/discovery",
	config.Provide[Integrations]("integrations.github"),
	config.Provide[Providers]("catalog.providers.github"),
	config.Provide[OrgProviders]("catalog.providers.githubOrg"),
	fx.Provide(
		catalog.AsReader(func(is Integrations) catalog.Reader { return NewReader(is) }),
		catalog.AsAnalyzer(func(is Integrations) catalog.Analyzer { return NewAnalyzer(is) }),
		eventsvc.AsSubscriptions(newEntityProviders),
		eventsvc.AsSubscriptions(newOrgEntityProviders),
	),
)
