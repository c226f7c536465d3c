package discovery

import (
	"context"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
)

// providerParams are the providers' inputs.
type providerParams struct {
	fx.In
	Lifecycle    fx.Lifecycle
	Providers    Providers
	OrgProviders OrgProviders
	Integrations Integrations
	Store        *catalog.Store
	Logger       zerolog.Logger
	Registerer   prometheus.Registerer `optional:"true"`
}

// provider is what the module does with a provider: start and stop it with the
// application, and subscribe it to the bus.
type provider interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Subscription() eventsvc.Subscription
}

// startAll builds one provider per entry of configs, in id order, started and stopped with
// the application, and returns their subscriptions.
func startAll[C any, P provider](lc fx.Lifecycle, configs map[string]C, build func(id string, c C) (P, error)) ([]eventsvc.Subscription, error) {
	ids := make([]string, 0, len(configs))
	for id := range configs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var subs []eventsvc.Subscription
	for _, id := range ids {
		p, err := build(id, configs[id])
		if err != nil {
			return nil, err
		}
		lc.Append(fx.StartStopHook(p.Start, p.Stop))
		subs = append(subs, p.Subscription())
	}
	return subs, nil
}

// newProviders builds the entity providers of catalog.providers.github and the organization
// providers of catalog.providers.githubOrg, and returns their subscriptions.
func newProviders(p providerParams) ([]eventsvc.Subscription, error) {
	repos, err := startAll(p.Lifecycle, p.Providers, func(id string, c ProviderConfig) (*EntityProvider, error) {
		return NewEntityProvider(id, c, p.Integrations, p.Store, p.Logger, WithRegisterer(p.Registerer))
	})
	if err != nil {
		return nil, err
	}
	orgs, err := startAll(p.Lifecycle, p.OrgProviders, func(id string, c OrgProviderConfig) (*OrgEntityProvider, error) {
		return NewOrgEntityProvider(id, c, p.Integrations, p.Store, p.Logger, WithRegisterer(p.Registerer))
	})
	return append(repos, orgs...), err
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
		eventsvc.AsSubscriptions(newProviders),
	),
)
