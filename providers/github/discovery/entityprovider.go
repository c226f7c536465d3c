package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/internal/background"
	"github.com/stagebus/stagebus/providers/github"
)

// Sub-topics the entity provider follows.
const (
	TopicPush       = github.Topic + ".push"
	TopicRepository = github.Topic + ".repository"
)

// Sub-topics the organization provider follows.
const (
	TopicOrganization = github.Topic + ".organization"
	TopicTeam         = github.Topic + ".team"
	TopicMembership   = github.Topic + ".membership"
)

// ProviderConfig is one entry of catalog.providers.github.<id>.
type ProviderConfig struct {
	// Organization whose repositories are discovered (required).
	Organization string `yaml:"organization"`
	// Host is the integrations.github host (default github.com).
	Host string `yaml:"host"`
	// CatalogPath is the file to read in each repository (default /catalog-info.yaml); a
	// path.Match pattern is allowed in its last element.
	CatalogPath string `yaml:"catalogPath"`
	// Filters restrict what is discovered.
	Filters struct {
		// Branch to read (default: each repository's default branch).
		Branch string `yaml:"branch"`
		// Repository is a regular expression the repository name must match (default all).
		Repository string `yaml:"repository"`
	} `yaml:"filters"`
	// Schedule of the full sync.
	Schedule struct {
		// Frequency of the full sync (default 30m).
		Frequency time.Duration `yaml:"frequency"`
	} `yaml:"schedule"`
}

// SetDefaults: github.com, /catalog-info.yaml, every 30 minutes.
func (c *ProviderConfig) SetDefaults() {
	c.Host = "github.com"
	c.CatalogPath = "/catalog-info.yaml"
	c.Schedule.Frequency = 30 * time.Minute
}

// Validate checks the organization, the pattern and the frequency.
func (c ProviderConfig) Validate() error {
	var errs []error
	if c.Organization == "" {
		errs = append(errs, config.Fieldf("organization", "is required"))
	}
	if _, err := regexp.Compile(c.Filters.Repository); err != nil {
		errs = append(errs, config.Fieldf("filters.repository", "is not a regular expression: %v", err))
	}
	if _, err := path.Match(strings.TrimPrefix(c.CatalogPath, "/"), ""); err != nil || c.CatalogPath == "" {
		errs = append(errs, config.Fieldf("catalogPath", "is not a valid path pattern"))
	}
	if c.Schedule.Frequency < time.Minute {
		errs = append(errs, config.Fieldf("schedule.frequency", "must be at least 1m"))
	}
	return errors.Join(errs...)
}

// Providers is catalog.providers.github: provider id → configuration.
type Providers map[string]ProviderConfig

// EntityProvider keeps the catalog in step with an organization's repositories: a full sync at
// start-up and on a schedule through the REST API, and in between the github.push and
// github.repository events, applied as deltas as they arrive.
type EntityProvider struct {
	id      string
	cfg     ProviderConfig
	client  *client
	store   *catalog.Store
	log     zerolog.Logger
	repoRE  *regexp.Regexp
	pattern string
	// loop runs the full sync on the schedule.
	loop *background.Loop
}

// EntityProviderOption tunes an EntityProvider.
type EntityProviderOption func(*entityProviderOptions)

type entityProviderOptions struct {
	registerer prometheus.Registerer
}

// WithRegisterer counts failed syncs in the background loops' error counter on reg (label
// loop=github-provider:<id>, or github-org-provider:<id> for an OrgEntityProvider).
func WithRegisterer(reg prometheus.Registerer) EntityProviderOption {
	return func(o *entityProviderOptions) { o.registerer = reg }
}

// Sync schedule: a full sync may take this long; after a failure the next one comes after
// syncRetry, doubling up to the frequency; successful syncs are spread by up to syncJitter of
// the frequency so that instances drift apart.
const (
	syncTimeout = 10 * time.Minute
	syncRetry   = time.Minute
	syncJitter  = 0.1
)

// NewEntityProvider returns the provider of one catalog.providers.github entry.
func NewEntityProvider(id string, cfg ProviderConfig, is Integrations, store *catalog.Store, log zerolog.Logger, opts ...EntityProviderOption) (*EntityProvider, error) {
	in, ok := is.find(cfg.Host)
	if !ok {
		return nil, config.Problems{{Path: "catalog.providers.github." + id + ".host", Message: fmt.Sprintf("%s is not in integrations.github", cfg.Host)}}
	}
	var o entityProviderOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := &EntityProvider{
		id: id, cfg: cfg, client: newClient(in), store: store,
		log:     log.With().Str("provider", "github-provider:"+id).Logger(),
		repoRE:  regexp.MustCompile(cfg.Filters.Repository),
		pattern: strings.TrimPrefix(cfg.CatalogPath, "/"),
	}
	p.loop = background.New(p.Name(), cfg.Schedule.Frequency, p.Sync,
		background.Immediately(), background.WithJitter(syncJitter), background.WithBackoff(syncRetry),
		background.WithTimeout(syncTimeout), background.WithLogger(p.log), background.WithRegisterer(o.registerer))
	return p, nil
}

// Name is the provider name that owns the entities: github-provider:<id>.
func (p *EntityProvider) Name() string { return "github-provider:" + p.id }

// Subscription follows github.push and github.repository.
func (p *EntityProvider) Subscription() eventsvc.Subscription {
	return eventsvc.Subscription{ID: "catalog.github-provider." + p.id, Topics: []string{TopicPush, TopicRepository}, Handler: p.handle}
}

// wanted reports whether a repository is discovered.
func (p *EntityProvider) wanted(owner, name string) bool {
	return strings.EqualFold(owner, p.cfg.Organization) && p.repoRE.MatchString(name)
}

func (p *EntityProvider) branch(r repository) string {
	if p.cfg.Filters.Branch != "" {
		return p.cfg.Filters.Branch
	}
	return r.DefaultBranch
}

func (p *EntityProvider) matches(file string) bool {
	ok, _ := path.Match(p.pattern, strings.TrimPrefix(file, "/"))
	return ok
}

type pushEvent struct {
	Ref        string     `json:"ref"`
	Repository repository `json:"repository"`
	Commits    []struct {
		Added    []string `json:"added"`
		Removed  []string `json:"removed"`
		Modified []string `json:"modified"`
	} `json:"commits"`
}

type repositoryEvent struct {
	Action     string     `json:"action"`
	Repository repository `json:"repository"`
	Changes    struct {
		Repository struct {
			Name struct {
				From string `json:"from"`
			} `json:"name"`
		} `json:"repository"`
		Owner struct {
			From struct {
				User struct {
					Login string `json:"login"`
				} `json:"user"`
				Organization struct {
					Login string `json:"login"`
				} `json:"organization"`
			} `json:"from"`
		} `json:"owner"`
	} `json:"changes"`
}

func (p *EntityProvider) handle(ctx context.Context, e eventsvc.Event) error {
	switch e.Topic {
	case TopicPush:
		var ev pushEvent
		if err := json.Unmarshal(e.Payload, &ev); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("github push payload ignored: not valid JSON")
			return nil
		}
		return p.onPush(ctx, ev)
	case TopicRepository:
		var ev repositoryEvent
		if err := json.Unmarshal(e.Payload, &ev); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("github repository payload ignored: not valid JSON")
			return nil
		}
		return p.onRepository(ctx, ev)
	}
	return nil
}

// onPush applies the catalog files a push to the tracked branch added, changed or removed.
func (p *EntityProvider) onPush(ctx context.Context, ev pushEvent) error {
	r := ev.Repository
	if !p.wanted(r.Owner.Login, r.Name) || ev.Ref != "refs/heads/"+p.branch(r) {
		return nil
	}
	state := map[string]bool{} // catalog file → present after the push
	for _, c := range ev.Commits {
		for _, f := range append(append([]string(nil), c.Added...), c.Modified...) {
			if p.matches(f) {
				state[f] = true
			}
		}
		for _, f := range c.Removed {
			if p.matches(f) {
				state[f] = false
			}
		}
	}
	files := make([]string, 0, len(state))
	for f := range state {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		if err := p.refreshFile(ctx, r, f, state[f]); err != nil {
			return err
		}
	}
	return nil
}

// onRepository follows archives, deletions, renames and transfers.
func (p *EntityProvider) onRepository(ctx context.Context, ev repositoryEvent) error {
	r := ev.Repository
	switch ev.Action {
	case "archived", "deleted":
		return p.removeRepository(ctx, r.HTMLURL)
	case "renamed":
		old := ev.Changes.Repository.Name.From
		if old != "" {
			if err := p.removeRepository(ctx, strings.TrimSuffix(r.HTMLURL, "/"+r.Name)+"/"+old); err != nil {
				return err
			}
		}
		return p.addRepository(ctx, r)
	case "transferred":
		from := ev.Changes.Owner.From.Organization.Login
		if from == "" {
			from = ev.Changes.Owner.From.User.Login
		}
		if from != "" {
			host := strings.TrimSuffix(r.HTMLURL, "/"+r.Owner.Login+"/"+r.Name)
			if err := p.removeRepository(ctx, host+"/"+from+"/"+r.Name); err != nil {
				return err
			}
		}
		return p.addRepository(ctx, r)
	case "unarchived":
		return p.addRepository(ctx, r)
	case "edited":
		if !p.wanted(r.Owner.Login, r.Name) {
			return p.removeRepository(ctx, r.HTMLURL)
		}
	}
	return nil
}

// addRepository reads a repository's catalog file (when it matches the filters).
func (p *EntityProvider) addRepository(ctx context.Context, r repository) error {
	if !p.wanted(r.Owner.Login, r.Name) || r.Archived || strings.ContainsAny(p.pattern, "*?[") {
		return nil // a pattern's files are found by the next full sync
	}
	return p.refreshFile(ctx, r, p.pattern, true)
}

// removeRepository removes every entity the provider has from a repository.
func (p *EntityProvider) removeRepository(ctx context.Context, htmlURL string) error {
	refs, err := p.store.LocationRefs(ctx, p.Name(), "url:"+strings.TrimSuffix(htmlURL, "/")+"/")
	if err != nil || len(refs) == 0 {
		return err
	}
	_, err = p.store.ApplyMutation(ctx, p.Name(), catalog.Mutation{Type: catalog.Delta, Removed: refs})
	return err
}

// refreshFile reads one catalog file again (or removes its entities when it is gone) and
// applies the difference as a delta.
func (p *EntityProvider) refreshFile(ctx context.Context, r repository, file string, present bool) error {
	branch := p.branch(r)
	key := "url:" + fileURL(r.HTMLURL, branch, file)
	var entities []catalog.DeferredEntity
	if present {
		var err error
		entities, err = p.read(ctx, r, branch, file)
		if err != nil && !errors.Is(err, errNotFound) {
			return err // retried by the bus
		}
	}
	before, err := p.store.LocationRefs(ctx, p.Name(), key)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, d := range entities {
		keep[d.Entity.Ref().String()] = true
	}
	var removed []string
	for _, ref := range before {
		if !keep[ref] {
			removed = append(removed, ref)
		}
	}
	res, err := p.store.ApplyMutation(ctx, p.Name(), catalog.Mutation{Type: catalog.Delta, Entities: entities, Removed: removed})
	if err != nil {
		return err
	}
	p.log.Info().Str("location", key).Int("upserted", len(res.Upserted)).Int("deleted", len(res.Deleted)).Msg("catalog file applied")
	return nil
}

// read fetches and parses a catalog file; its entities' location key is the file's URL.
func (p *EntityProvider) read(ctx context.Context, r repository, branch, file string) ([]catalog.DeferredEntity, error) {
	owner, name, _ := strings.Cut(r.FullName, "/")
	data, err := p.client.readFile(ctx, owner, name, branch, file)
	if err != nil {
		return nil, err
	}
	u := fileURL(r.HTMLURL, branch, file)
	es, err := p.store.Model().Parser(ctx, catalog.Location{Type: catalog.LocationURL, Target: u}, data)
	if err != nil {
		p.log.Warn().Err(err).Str("location", u).Msg("catalog file is not valid; its entities are left as they were")
		return nil, err
	}
	out := make([]catalog.DeferredEntity, len(es))
	for i, e := range es { // the store annotates them with the location key
		out[i] = catalog.DeferredEntity{Entity: e, LocationKey: "url:" + u}
	}
	return out, nil
}

// Sync reads every repository of the organization and replaces the provider's entities (a
// full mutation). When a repository cannot be read, what was read is added but nothing is
// removed, and the error is returned.
func (p *EntityProvider) Sync(ctx context.Context) error {
	repos, err := p.client.listRepos(ctx, p.cfg.Organization)
	if err != nil {
		return err
	}
	var entities []catalog.DeferredEntity
	var failed []error
	for _, r := range repos {
		if !p.wanted(r.Owner.Login, r.Name) || r.Archived {
			continue
		}
		es, err := p.read(ctx, r, p.branch(r), p.pattern)
		switch {
		case errors.Is(err, errNotFound):
		case err != nil:
			failed = append(failed, fmt.Errorf("%s: %w", r.FullName, err))
		default:
			entities = append(entities, es...)
		}
	}
	kind := catalog.Full
	if len(failed) > 0 {
		kind = catalog.Delta
	}
	res, err := p.store.ApplyMutation(ctx, p.Name(), catalog.Mutation{Type: kind, Entities: entities})
	if err != nil {
		return err
	}
	p.log.Info().Int("repositories", len(repos)).Int("upserted", len(res.Upserted)).Int("deleted", len(res.Deleted)).Int("unchanged", res.Unchanged).Msg("github sync done")
	return errors.Join(failed...)
}

// Start runs the full sync now and on the schedule, in the background (see
// internal/background): a failed sync is logged and tried again sooner (1 minute, doubling up
// to the frequency), never fatal.
func (p *EntityProvider) Start(ctx context.Context) error { return p.loop.Start(ctx) }

// Stop ends the schedule: a sync under way is cancelled, and Stop waits for it to return
// until ctx ends, no longer.
func (p *EntityProvider) Stop(ctx context.Context) error { return p.loop.Stop(ctx) }
