package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/internal/background"
)

// Annotations of the entities the organization provider provides, as Backstage writes them.
const (
	// AnnotationUserLogin is a User's GitHub login.
	AnnotationUserLogin = "github.com/user-login"
	// AnnotationUserID is a User's GitHub account id, which, unlike the login, no one else
	// can take (the GitHub sign-in's userIdMatchingUserEntityAnnotation resolver matches it).
	AnnotationUserID = "github.com/user-id"
	// AnnotationTeamSlug is a Group's team: <org>/<slug>.
	AnnotationTeamSlug = "github.com/team-slug"
)

// OrgProviderConfig is one entry of catalog.providers.githubOrg.<id>.
type OrgProviderConfig struct {
	// GithubURL is the GitHub instance (default https://github.com); its host selects the
	// integrations.github entry.
	GithubURL string `yaml:"githubUrl"`
	// Orgs are the organizations whose members and teams are imported (required).
	Orgs []string `yaml:"orgs"`
	// Schedule of the full sync.
	Schedule struct {
		// Frequency of the full sync (default 30m).
		Frequency time.Duration `yaml:"frequency"`
	} `yaml:"schedule"`
}

// SetDefaults: https://github.com, every 30 minutes.
func (c *OrgProviderConfig) SetDefaults() {
	c.GithubURL = "https://github.com"
	c.Schedule.Frequency = 30 * time.Minute
}

// orgLogin is what an organization's login may look like (GitHub allows letters, digits and
// '-'; older organizations may have '_' or '.').
var orgLogin = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Validate checks the URL, the organizations and the frequency.
func (c OrgProviderConfig) Validate() error {
	var errs []error
	if _, err := c.host(); err != nil {
		errs = append(errs, config.Fieldf("githubUrl", "%v", err))
	}
	if len(c.Orgs) == 0 {
		errs = append(errs, config.Fieldf("orgs", "is required: list the organizations to import, e.g. orgs: [acme]"))
	}
	seen := map[string]bool{}
	for i, o := range c.Orgs {
		key := fmt.Sprintf("orgs[%d]", i)
		if !orgLogin.MatchString(o) {
			errs = append(errs, config.Fieldf(key, "must be an organization's login, such as acme, got %q", o))
		}
		if seen[strings.ToLower(o)] {
			errs = append(errs, config.Fieldf(key, "%s is listed twice; remove one", o))
		}
		seen[strings.ToLower(o)] = true
	}
	if c.Schedule.Frequency < time.Minute {
		errs = append(errs, config.Fieldf("schedule.frequency", "must be at least 1m"))
	}
	return errors.Join(errs...)
}

// host is githubUrl's host, which names the integrations.github entry.
func (c OrgProviderConfig) host() (string, error) {
	u, err := url.Parse(c.GithubURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "", fmt.Errorf("must be the http(s) URL of a GitHub instance, such as https://github.com, got %q", c.GithubURL)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return "", fmt.Errorf("must be the URL of the GitHub instance without a path (list organizations in orgs), got %q", c.GithubURL)
	}
	return u.Hostname(), nil
}

// OrgProviders is catalog.providers.githubOrg: provider id → configuration.
type OrgProviders map[string]OrgProviderConfig

// OrgEntityProvider keeps the catalog in step with the members and teams of GitHub
// organizations (Backstage's GithubOrgEntityProvider): members are User entities, teams are
// Group entities. A full sync at start-up and on a schedule reads them through the REST API;
// in between, the github.organization, github.team and github.membership events are applied
// as deltas as they arrive.
type OrgEntityProvider struct {
	id     string
	cfg    OrgProviderConfig
	orgs   map[string]string // lower-cased login → the configured spelling
	client *client
	store  *catalog.Store
	log    zerolog.Logger
	// loop runs the full sync on the schedule.
	loop *background.Loop
}

// NewOrgEntityProvider returns the provider of one catalog.providers.githubOrg entry.
func NewOrgEntityProvider(id string, cfg OrgProviderConfig, is Integrations, store *catalog.Store, log zerolog.Logger, opts ...EntityProviderOption) (*OrgEntityProvider, error) {
	path := "catalog.providers.githubOrg." + id
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	host, _ := cfg.host()
	in, ok := is.find(host)
	if !ok {
		return nil, config.Problems{{Path: path + ".githubUrl", Message: fmt.Sprintf("%s is not in integrations.github; add it there, or use the URL of a host that is", host)}}
	}
	var o entityProviderOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := &OrgEntityProvider{
		id: id, cfg: cfg, orgs: map[string]string{}, client: newClient(in), store: store,
		log: log.With().Str("provider", "github-org-provider:"+id).Logger(),
	}
	for _, org := range cfg.Orgs {
		p.orgs[strings.ToLower(org)] = org
	}
	p.loop = background.New(p.Name(), cfg.Schedule.Frequency, p.Sync,
		background.Immediately(), background.WithJitter(syncJitter), background.WithBackoff(syncRetry),
		background.WithTimeout(syncTimeout), background.WithLogger(p.log), background.WithRegisterer(o.registerer))
	return p, nil
}

// Name is the provider name that owns the entities, and their location key:
// github-org-provider:<id>.
func (p *OrgEntityProvider) Name() string { return "github-org-provider:" + p.id }

// Subscription follows github.organization, github.team and github.membership.
func (p *OrgEntityProvider) Subscription() eventsvc.Subscription {
	return eventsvc.Subscription{ID: p.Name(), Topics: []string{TopicOrganization, TopicTeam, TopicMembership}, Handler: p.handle}
}

// userEntity is a member as a User entity.
func (p *OrgEntityProvider) userEntity(u user, memberOf []string) catalog.DeferredEntity {
	profile := map[string]any{}
	if u.Name != "" {
		profile["displayName"] = u.Name
	}
	if u.Email != "" {
		profile["email"] = u.Email
	}
	if u.AvatarURL != "" {
		profile["picture"] = u.AvatarURL
	}
	annotations := map[string]string{AnnotationUserLogin: u.Login}
	if u.ID != 0 {
		annotations[AnnotationUserID] = strconv.FormatInt(u.ID, 10)
	}
	return catalog.DeferredEntity{LocationKey: p.Name(), Entity: catalog.Entity{
		APIVersion: "backstage.io/v1alpha1", Kind: "User",
		Metadata: catalog.Metadata{Name: u.Login, Namespace: catalog.DefaultNamespace,
			Annotations: annotations},
		Spec: map[string]any{"profile": profile, "memberOf": nameList(memberOf)},
	}}
}

// groupEntity is a team as a Group entity.
func (p *OrgEntityProvider) groupEntity(org string, t team) catalog.DeferredEntity {
	profile := map[string]any{}
	if t.Name != "" {
		profile["displayName"] = t.Name
	}
	spec := map[string]any{"type": "team", "profile": profile, "children": []any{}}
	if parent := t.parentSlug(); parent != "" {
		spec["parent"] = parent
	}
	return catalog.DeferredEntity{LocationKey: p.Name(), Entity: catalog.Entity{
		APIVersion: "backstage.io/v1alpha1", Kind: "Group",
		Metadata: catalog.Metadata{Name: t.Slug, Namespace: catalog.DefaultNamespace, Description: t.Description,
			Annotations: map[string]string{AnnotationTeamSlug: org + "/" + t.Slug}},
		Spec: spec,
	}}
}

// withMemberOf is a stored User with another memberOf, to apply again.
func (p *OrgEntityProvider) withMemberOf(e catalog.Entity, memberOf []string) catalog.DeferredEntity {
	e.Spec = maps.Clone(e.Spec)
	e.Spec["memberOf"] = nameList(memberOf)
	e.Metadata.UID, e.Metadata.Etag, e.Relations = "", "", nil
	return catalog.DeferredEntity{Entity: e, LocationKey: p.Name()}
}

// nameList sorts and deduplicates names (case-insensitively) into a spec list: []any, the
// shape the catalog derives relations from.
func nameList(names []string) []any {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	out := []any{}
	seen := map[string]bool{}
	for _, n := range sorted {
		if !seen[strings.ToLower(n)] {
			seen[strings.ToLower(n)] = true
			out = append(out, n)
		}
	}
	return out
}

// memberOf reads a stored User's spec.memberOf.
func memberOf(e catalog.Entity) []string {
	list, _ := e.Spec["memberOf"].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// without returns names minus those (lower-cased) in drop.
func without(names []string, drop map[string]bool) []string {
	var out []string
	for _, n := range names {
		if !drop[strings.ToLower(n)] {
			out = append(out, n)
		}
	}
	return out
}

func hasLogin(accounts []account, login string) bool {
	for _, a := range accounts {
		if strings.EqualFold(a.Login, login) {
			return true
		}
	}
	return false
}

// Sync reads the members and teams of every organization and replaces the provider's
// entities (a full mutation). Nothing is applied when GitHub cannot be read: the error is
// returned and the loop tries again sooner.
func (p *OrgEntityProvider) Sync(ctx context.Context) error {
	type member struct {
		user     user
		memberOf []string
	}
	members := map[string]*member{} // lower-cased login → member
	var logins []string
	var groups []catalog.DeferredEntity
	teamOrg := map[string]string{} // lower-cased slug → the organization whose team it is
	for _, org := range p.cfg.Orgs {
		accounts, err := p.client.orgMembers(ctx, org)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			key := strings.ToLower(a.Login)
			if _, done := members[key]; done {
				continue
			}
			u, err := p.client.user(ctx, a.Login)
			switch {
			case errors.Is(err, errNotFound):
				continue // the account was deleted since the list was read
			case err != nil:
				return err
			}
			if u.Login == "" {
				u.Login = a.Login
			}
			members[key] = &member{user: u}
			logins = append(logins, key)
		}
		teams, err := p.client.orgTeams(ctx, org)
		if err != nil {
			return err
		}
		for _, t := range teams {
			if other, taken := teamOrg[strings.ToLower(t.Slug)]; taken {
				p.log.Warn().Str("team", org+"/"+t.Slug).Str("kept", other+"/"+t.Slug).Msg("team skipped: Groups are named by slug, and a team of another organization has this one")
				continue
			}
			teamOrg[strings.ToLower(t.Slug)] = org
			groups = append(groups, p.groupEntity(org, t))
			accounts, err := p.client.teamMembers(ctx, org, t.Slug)
			switch {
			case errors.Is(err, errNotFound):
				continue // deleted since the list was read
			case err != nil:
				return err
			}
			for _, a := range accounts {
				if m, ok := members[strings.ToLower(a.Login)]; ok {
					m.memberOf = append(m.memberOf, t.Slug)
				}
			}
		}
	}
	entities := groups
	for _, key := range logins {
		entities = append(entities, p.userEntity(members[key].user, members[key].memberOf))
	}
	res, err := p.store.ApplyMutation(ctx, p.Name(), catalog.Mutation{Type: catalog.Full, Entities: entities})
	if err != nil {
		return err
	}
	p.log.Info().Int("users", len(logins)).Int("groups", len(groups)).Int("upserted", len(res.Upserted)).Int("deleted", len(res.Deleted)).Int("unchanged", res.Unchanged).Msg("github organization sync done")
	return nil
}

// Start runs the full sync now and on the schedule, in the background (see
// internal/background): a failed sync is logged and tried again sooner (1 minute, doubling up
// to the frequency), never fatal.
func (p *OrgEntityProvider) Start(ctx context.Context) error { return p.loop.Start(ctx) }

// Stop ends the schedule: a sync under way is cancelled, and Stop waits for it to return
// until ctx ends, no longer.
func (p *OrgEntityProvider) Stop(ctx context.Context) error { return p.loop.Stop(ctx) }

// orgEvent is what the provider reads of organization, team and membership payloads.
type orgEvent struct {
	Action       string `json:"action"`
	Organization struct {
		Login string `json:"login"`
	} `json:"organization"`
	// Membership is the organization event's member.
	Membership struct {
		User account `json:"user"`
	} `json:"membership"`
	// Team is the team event's team, and the membership event's.
	Team team `json:"team"`
	// Member is the membership event's member.
	Member account `json:"member"`
}

// handle applies an event of a configured organization; those of others are ignored. An
// error (GitHub or the store unreachable) makes the bus try the event again.
func (p *OrgEntityProvider) handle(ctx context.Context, e eventsvc.Event) error {
	var ev orgEvent
	if err := json.Unmarshal(e.Payload, &ev); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("topic", e.Topic).Msg("github payload ignored: not valid JSON")
		return nil
	}
	org, ok := p.orgs[strings.ToLower(ev.Organization.Login)]
	if !ok {
		return nil
	}
	switch e.Topic {
	case TopicOrganization:
		login := ev.Membership.User.Login
		switch {
		case login == "":
		case ev.Action == "member_added":
			return p.refreshUser(ctx, org, login, true)
		case ev.Action == "member_removed":
			return p.removeMember(ctx, org, login)
		}
	case TopicTeam:
		slug := ev.Team.Slug
		switch {
		case slug == "":
		case ev.Action == "created":
			return p.addTeam(ctx, org, ev.Team)
		case ev.Action == "deleted":
			return p.removeTeam(ctx, org, slug)
		case ev.Action == "edited":
			return p.refreshTeam(ctx, org, slug)
		}
	case TopicMembership:
		if (ev.Action == "added" || ev.Action == "removed") && ev.Member.Login != "" {
			return p.refreshUser(ctx, org, ev.Member.Login, false)
		}
	}
	return nil
}

// storedGroup is one of the provider's Groups.
type storedGroup struct {
	org, parent string
}

// orgState is what the provider has in the catalog: the refs it owns and its Groups.
type orgState struct {
	owned  map[string]bool
	groups map[string]storedGroup // lower-cased name → group
}

func (p *OrgEntityProvider) state(ctx context.Context) (orgState, error) {
	refs, err := p.store.LocationRefs(ctx, p.Name(), p.Name())
	if err != nil {
		return orgState{}, err
	}
	st := orgState{owned: map[string]bool{}, groups: map[string]storedGroup{}}
	var groupRefs []string
	for _, r := range refs {
		st.owned[r] = true
		if strings.HasPrefix(r, "group:") {
			groupRefs = append(groupRefs, r)
		}
	}
	es, err := p.store.GetByRefs(ctx, groupRefs, catalog.Query{})
	if err != nil {
		return orgState{}, err
	}
	for _, e := range es {
		if e == nil {
			continue
		}
		org, _, _ := strings.Cut(e.Metadata.Annotations[AnnotationTeamSlug], "/")
		parent, _ := e.Spec["parent"].(string)
		st.groups[strings.ToLower(e.Metadata.Name)] = storedGroup{org: org, parent: parent}
	}
	return st, nil
}

// teamOf reports whether the Group named slug is org's team, or may become it: false when a
// team of another organization has the name.
func (st orgState) teamOf(org, slug string) bool {
	g, ok := st.groups[strings.ToLower(slug)]
	return !ok || strings.EqualFold(g.org, org)
}

// otherOrgs returns the entries of a memberOf that are teams of organizations other than org.
func (st orgState) otherOrgs(names []string, org string) []string {
	var out []string
	for _, n := range names {
		if g, ok := st.groups[strings.ToLower(n)]; ok && !strings.EqualFold(g.org, org) {
			out = append(out, n)
		}
	}
	return out
}

func groupRef(name string) string {
	return catalog.EntityRef{Kind: "group", Namespace: catalog.DefaultNamespace, Name: name}.String()
}

// storedUser returns the provider's User of a login.
func (p *OrgEntityProvider) storedUser(ctx context.Context, st orgState, login string) (catalog.Entity, bool, error) {
	ref := catalog.EntityRef{Kind: "user", Namespace: catalog.DefaultNamespace, Name: login}
	if !st.owned[ref.String()] {
		return catalog.Entity{}, false, nil
	}
	e, err := p.store.GetByRef(ctx, ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Entity{}, false, nil
	}
	return e, err == nil, err
}

// usersIn returns the provider's Users that are members of any of the groups (lower-cased
// names).
func (p *OrgEntityProvider) usersIn(ctx context.Context, st orgState, groups []string) ([]catalog.Entity, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	es, _, err := p.store.Query(ctx, catalog.Query{SkipTotal: true, Filters: []catalog.FilterSet{{
		{Key: "kind", Values: []string{"user"}}, {Key: "spec.memberof", Values: groups},
	}}})
	if err != nil {
		return nil, err
	}
	var out []catalog.Entity
	for _, e := range es {
		if st.owned[e.Ref().String()] {
			out = append(out, e)
		}
	}
	return out, nil
}

// teamsOf returns the slugs of org's teams that have login as a member.
func (p *OrgEntityProvider) teamsOf(ctx context.Context, st orgState, org, login string) ([]string, error) {
	teams, err := p.client.orgTeams(ctx, org)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range teams {
		if !st.teamOf(org, t.Slug) {
			continue
		}
		accounts, err := p.client.teamMembers(ctx, org, t.Slug)
		switch {
		case errors.Is(err, errNotFound):
			continue
		case err != nil:
			return nil, err
		}
		if hasLogin(accounts, login) {
			out = append(out, t.Slug)
		}
	}
	return out, nil
}

// apply applies a delta, when there is one.
func (p *OrgEntityProvider) apply(ctx context.Context, what string, entities []catalog.DeferredEntity, removed []string) error {
	if len(entities) == 0 && len(removed) == 0 {
		return nil
	}
	res, err := p.store.ApplyMutation(ctx, p.Name(), catalog.Mutation{Type: catalog.Delta, Entities: entities, Removed: removed})
	if err != nil {
		return err
	}
	p.log.Info().Str("change", what).Int("upserted", len(res.Upserted)).Int("deleted", len(res.Deleted)).Msg("github organization change applied")
	return nil
}

// refreshUser reads a member and their teams in org again, and applies the User. A user the
// provider does not have is added only when add is set (member_added): a membership event
// that arrives after the member left the organization must not bring them back.
func (p *OrgEntityProvider) refreshUser(ctx context.Context, org, login string, add bool) error {
	st, err := p.state(ctx)
	if err != nil {
		return err
	}
	stored, have, err := p.storedUser(ctx, st, login)
	if err != nil || (!have && !add) {
		return err
	}
	u, err := p.client.user(ctx, login)
	switch {
	case errors.Is(err, errNotFound):
		return nil // the account is gone: its member_removed event, or the full sync, removes it
	case err != nil:
		return err
	}
	if u.Login == "" {
		u.Login = login
	}
	slugs, err := p.teamsOf(ctx, st, org, login)
	if err != nil {
		return err
	}
	return p.apply(ctx, "member "+org+"/"+login, []catalog.DeferredEntity{p.userEntity(u, append(st.otherOrgs(memberOf(stored), org), slugs...))}, nil)
}

// removeMember removes the User of someone who left org; one who is still a member of another
// of the provider's organizations keeps the User, without org's teams.
func (p *OrgEntityProvider) removeMember(ctx context.Context, org, login string) error {
	st, err := p.state(ctx)
	if err != nil {
		return err
	}
	stored, have, err := p.storedUser(ctx, st, login)
	if err != nil || !have {
		return err
	}
	for _, other := range p.cfg.Orgs {
		if strings.EqualFold(other, org) {
			continue
		}
		accounts, err := p.client.orgMembers(ctx, other)
		if err != nil {
			return err
		}
		if hasLogin(accounts, login) {
			return p.apply(ctx, "member "+org+"/"+login, []catalog.DeferredEntity{p.withMemberOf(stored, st.otherOrgs(memberOf(stored), org))}, nil)
		}
	}
	return p.apply(ctx, "member "+org+"/"+login, nil, []string{stored.Ref().String()})
}

// addTeam adds the Group of a team created in org.
func (p *OrgEntityProvider) addTeam(ctx context.Context, org string, t team) error {
	st, err := p.state(ctx)
	if err != nil {
		return err
	}
	if !st.teamOf(org, t.Slug) {
		p.log.Warn().Str("team", org+"/"+t.Slug).Msg("team skipped: Groups are named by slug, and a team of another organization has this one")
		return nil
	}
	return p.apply(ctx, "team "+org+"/"+t.Slug, []catalog.DeferredEntity{p.groupEntity(org, t)}, nil)
}

// removeTeam removes the Group of a team deleted from org, with its child teams' (GitHub
// deletes them with their parent), and takes them out of their members' memberOf.
func (p *OrgEntityProvider) removeTeam(ctx context.Context, org, slug string) error {
	st, err := p.state(ctx)
	if err != nil {
		return err
	}
	if g, ok := st.groups[strings.ToLower(slug)]; !ok || !strings.EqualFold(g.org, org) {
		return nil
	}
	gone := map[string]bool{strings.ToLower(slug): true}
	for more := true; more; {
		more = false
		for name, g := range st.groups {
			if !gone[name] && strings.EqualFold(g.org, org) && gone[strings.ToLower(g.parent)] {
				gone[name], more = true, true
			}
		}
	}
	names := make([]string, 0, len(gone))
	removed := make([]string, 0, len(gone))
	for name := range gone {
		names = append(names, name)
		removed = append(removed, groupRef(name))
	}
	sort.Strings(removed)
	users, err := p.usersIn(ctx, st, names)
	if err != nil {
		return err
	}
	var entities []catalog.DeferredEntity
	for _, u := range users {
		entities = append(entities, p.withMemberOf(u, without(memberOf(u), gone)))
	}
	return p.apply(ctx, "team "+org+"/"+slug, entities, removed)
}

// refreshTeam reads an edited team again and applies its Group and its child teams' (whose
// parent it is). A renamed team has a new slug: the Group of the old one is removed (any
// Group of org whose team is gone is), and its members' memberOf follow.
func (p *OrgEntityProvider) refreshTeam(ctx context.Context, org, slug string) error {
	st, err := p.state(ctx)
	if err != nil {
		return err
	}
	teams, err := p.client.orgTeams(ctx, org)
	if err != nil {
		return err
	}
	current := map[string]team{}
	for _, t := range teams {
		current[strings.ToLower(t.Slug)] = t
	}
	t, ok := current[strings.ToLower(slug)]
	if !ok {
		return nil // deleted since: its deleted event removes it
	}
	var entities []catalog.DeferredEntity
	for _, c := range teams {
		if (strings.EqualFold(c.Slug, t.Slug) || strings.EqualFold(c.parentSlug(), t.Slug)) && st.teamOf(org, c.Slug) {
			entities = append(entities, p.groupEntity(org, c))
		}
	}
	stale := map[string]bool{}
	var staleNames, removed []string
	for name, g := range st.groups {
		if _, ok := current[name]; !ok && strings.EqualFold(g.org, org) {
			stale[name] = true
			staleNames = append(staleNames, name)
			removed = append(removed, groupRef(name))
		}
	}
	sort.Strings(removed)
	if len(stale) > 0 {
		accounts, err := p.client.teamMembers(ctx, org, t.Slug)
		if err != nil && !errors.Is(err, errNotFound) {
			return err
		}
		users, err := p.usersIn(ctx, st, staleNames)
		if err != nil {
			return err
		}
		for _, u := range users {
			names := without(memberOf(u), stale)
			if hasLogin(accounts, u.Metadata.Name) {
				names = append(names, t.Slug)
			}
			entities = append(entities, p.withMemberOf(u, names))
		}
	}
	return p.apply(ctx, "team "+org+"/"+t.Slug, entities, removed)
}
