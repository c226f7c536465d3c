package discovery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
	"github.com/stagebus/stagebus/providers/github/discovery"
)

// fakeUser is a user's profile on the fake GitHub; empty fields are null, as GitHub answers
// for a user without a name or with a private email.
type fakeUser struct{ name, email string }

// fakeTeam is a team of the fake GitHub, with its direct members.
type fakeTeam struct {
	slug, name, description, parent string
	members                         []string
}

// setOrg replaces an organization's members and teams; profiles are added for the members
// that have none.
func (f *fakeGitHub) setOrg(org string, members []string, teams ...fakeTeam) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[org] = members
	f.teams[org] = teams
	for _, m := range members {
		if _, ok := f.users[m]; !ok {
			f.users[m] = fakeUser{}
		}
	}
}

// change edits an organization under the lock.
func (f *fakeGitHub) change(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeGitHub) orgRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, "/orgs/") || strings.HasPrefix(r, "/users/") {
			n++
		}
	}
	return n
}

func accountJSON(login string) map[string]any {
	return map[string]any{"login": login, "id": len(login), "node_id": "U_" + login, "avatar_url": "https://avatars.test/u/" + login,
		"url": "https://api.github.test/users/" + login, "html_url": "https://github.test/" + login, "type": "User", "site_admin": false}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func teamJSON(org string, t fakeTeam) map[string]any {
	out := map[string]any{"id": len(t.slug), "node_id": "T_" + t.slug, "name": t.name, "slug": t.slug, "description": nullable(t.description),
		"privacy": "closed", "notification_setting": "notifications_enabled", "permission": "pull",
		"html_url": "https://github.test/orgs/" + org + "/teams/" + t.slug, "parent": nil}
	if t.parent != "" {
		out["parent"] = map[string]any{"id": len(t.parent), "node_id": "T_" + t.parent, "slug": t.parent, "name": t.parent, "privacy": "closed"}
	}
	return out
}

// teamMembers lists a team's members as GitHub does: with the members of its child teams.
func (f *fakeGitHub) teamMembers(org, slug string) []string {
	var out []string
	for _, t := range f.teams[org] {
		if t.slug == slug {
			out = append(out, t.members...)
		} else if t.parent == slug {
			out = append(out, f.teamMembers(org, t.slug)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// serveOrg answers the organization endpoints; false for another path.
func (f *fakeGitHub) serveOrg(w http.ResponseWriter, r *http.Request) bool {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var out []map[string]any
	switch {
	case len(parts) == 2 && parts[0] == "users":
		u, ok := f.users[parts[1]]
		if !ok {
			return false
		}
		if f.broken {
			http.Error(w, `{"message":"Server Error"}`, http.StatusBadGateway)
			return true
		}
		body := accountJSON(parts[1])
		body["name"], body["email"], body["company"], body["bio"] = nullable(u.name), nullable(u.email), nil, nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
		return true
	case len(parts) < 3 || parts[0] != "orgs":
		return false
	case f.broken:
		http.Error(w, `{"message":"Server Error"}`, http.StatusBadGateway)
		return true
	case len(parts) == 3 && parts[2] == "members":
		members, ok := f.members[parts[1]]
		if !ok {
			return false
		}
		for _, m := range members {
			out = append(out, accountJSON(m))
		}
	case len(parts) == 3 && parts[2] == "teams":
		teams, ok := f.teams[parts[1]]
		if !ok {
			return false
		}
		for _, t := range teams {
			out = append(out, teamJSON(parts[1], t))
		}
	case len(parts) == 5 && parts[2] == "teams" && parts[4] == "members":
		if !slices.ContainsFunc(f.teams[parts[1]], func(t fakeTeam) bool { return t.slug == parts[3] }) {
			return false
		}
		for _, m := range f.teamMembers(parts[1], parts[3]) {
			out = append(out, accountJSON(m))
		}
	default:
		return false
	}
	// Lists are paginated, 2 a page.
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	if page*2 < len(out) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page+1))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.srv.URL, r.URL.Path, q.Encode()))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(append([]map[string]any{}, out[min((page-1)*2, len(out)):min(page*2, len(out))]...))
	return true
}

// acmeOrg is the organization of the tests: jane is in platform and in its child team
// platform-infra, joe in platform, ann in no team.
func acmeOrg(gh *fakeGitHub) {
	gh.setOrg("acme", []string{"jane", "joe", "ann"},
		fakeTeam{slug: "platform", name: "Platform", description: "Runs the platform", members: []string{"jane", "joe"}},
		fakeTeam{slug: "platform-infra", name: "Platform Infra", parent: "platform", members: []string{"jane"}},
	)
	gh.change(func() {
		gh.users["jane"] = fakeUser{name: "Jane Doe", email: "jane@acme.test"}
		gh.users["joe"] = fakeUser{name: "Joe Bloggs"}
	})
}

type orgFixture struct {
	t     *testing.T
	gh    *fakeGitHub
	store *catalog.Store
	p     *discovery.OrgEntityProvider
}

// newOrgFixture is an organization provider on acme (and umbrella, which the fake GitHub does
// not know, so that only events can name it) after its first full sync.
func newOrgFixture(t *testing.T) orgFixture {
	t.Helper()
	gh := newFakeGitHub(t)
	acmeOrg(gh)
	model, err := catalog.NewModel(nil)
	require.NoError(t, err)
	store := catalog.NewStore(databaseForTest(t), &eventsvctest.Recorder{}, model, zerolog.Nop())
	var cfg discovery.OrgProviderConfig
	cfg.SetDefaults()
	cfg.GithubURL, cfg.Orgs = "https://github.test", []string{"acme"}
	p, err := discovery.NewOrgEntityProvider("main", cfg, discovery.Integrations{{Host: "github.test", APIBaseURL: gh.srv.URL}}, store, zerolog.Nop())
	require.NoError(t, err)
	require.NoError(t, p.Sync(context.Background()))
	return orgFixture{t: t, gh: gh, store: store, p: p}
}

// get returns an entity (with its relations) from the store; nil when there is none.
func (f orgFixture) get(kind, name string) *catalog.Entity {
	f.t.Helper()
	e, err := f.store.GetByRef(context.Background(), catalog.EntityRef{Kind: kind, Namespace: "default", Name: name})
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	require.NoError(f.t, err)
	return &e
}

// memberOf returns a User's spec.memberOf.
func (f orgFixture) memberOf(name string) []any {
	f.t.Helper()
	e := f.get("user", name)
	require.NotNil(f.t, e, "user %s", name)
	return e.Spec["memberOf"].([]any)
}

// names returns the names of the entities of a kind in the catalog.
func (f orgFixture) names(kind string) []string {
	f.t.Helper()
	es, _, err := f.store.Query(context.Background(), catalog.Query{Filters: []catalog.FilterSet{{{Key: "kind", Values: []string{kind}}}}, Order: []catalog.Order{{Field: "metadata.name"}}})
	require.NoError(f.t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Metadata.Name)
	}
	return out
}

// event calls the provider's subscription handler as the bus does.
func (f orgFixture) event(topic string, payload any) error {
	f.t.Helper()
	body, err := json.Marshal(payload)
	require.NoError(f.t, err)
	sub := f.p.Subscription()
	require.Contains(f.t, sub.Topics, topic)
	return sub.Handler(context.Background(), eventsvc.Event{Topic: topic, Key: "acme", Payload: body})
}

// snapshot is every entity of the catalog with its etag, to tell that nothing changed.
func (f orgFixture) snapshot() map[string]string {
	f.t.Helper()
	es, _, err := f.store.Query(context.Background(), catalog.Query{})
	require.NoError(f.t, err)
	out := map[string]string{}
	for _, e := range es {
		out[e.Ref().String()] = e.Metadata.Etag
	}
	return out
}

func orgJSON(org string) map[string]any {
	return map[string]any{"login": org, "id": len(org), "node_id": "O_" + org, "url": "https://api.github.test/orgs/" + org}
}

func orgMemberEvent(org, action, login string) map[string]any {
	return map[string]any{"action": action, "organization": orgJSON(org), "sender": accountJSON("ada"),
		"membership": map[string]any{"state": "active", "role": "member", "user": accountJSON(login)}}
}

func teamEvent(org, action string, t fakeTeam) map[string]any {
	return map[string]any{"action": action, "organization": orgJSON(org), "sender": accountJSON("ada"), "team": teamJSON(org, t)}
}

func membershipEvent(org, action, login string, t fakeTeam) map[string]any {
	return map[string]any{"action": action, "scope": "team", "organization": orgJSON(org), "sender": accountJSON("ada"),
		"member": accountJSON(login), "team": teamJSON(org, t)}
}

func hasRelation(e *catalog.Entity, typ, target string) bool {
	return slices.Contains(e.Relations, catalog.Relation{Type: typ, TargetRef: target})
}

// TestOrgProviderConfig: catalog.providers.githubOrg is decoded with its defaults and checked;
// a githubUrl whose host is not in integrations.github is refused when the provider is built.
func TestOrgProviderConfig(t *testing.T) {
	t.Parallel()
	const integrations = "integrations:\n  github:\n    - host: github.test\n      apiBaseUrl: http://127.0.0.1:1\n"
	tests := []struct {
		name    string
		entry   string // the YAML of catalog.providers.githubOrg.main
		wantErr string
		check   func(t *testing.T, c discovery.OrgProviderConfig)
	}{
		{name: "valid", entry: "githubUrl: https://github.test\norgs: [acme, umbrella]\nschedule:\n  frequency: 5m\n",
			check: func(t *testing.T, c discovery.OrgProviderConfig) {
				require.Equal(t, []string{"acme", "umbrella"}, c.Orgs)
				require.Equal(t, "5m0s", c.Schedule.Frequency.String())
			}},
		{name: "defaults", entry: "githubUrl: https://github.test/\norgs: [acme]\n",
			check: func(t *testing.T, c discovery.OrgProviderConfig) {
				require.Equal(t, "30m0s", c.Schedule.Frequency.String())
			}},
		{name: "missing orgs", entry: "githubUrl: https://github.test\n", wantErr: "catalog.providers.githubOrg.main.orgs: is required: list the organizations to import"},
		{name: "empty orgs", entry: "githubUrl: https://github.test\norgs: []\n", wantErr: "catalog.providers.githubOrg.main.orgs: is required"},
		{name: "an org that is a URL", entry: "githubUrl: https://github.test\norgs: [https://github.test/acme]\n", wantErr: `catalog.providers.githubOrg.main.orgs[0]: must be an organization's login, such as acme, got "https://github.test/acme"`},
		{name: "an org listed twice", entry: "githubUrl: https://github.test\norgs: [acme, ACME]\n", wantErr: "catalog.providers.githubOrg.main.orgs[1]: ACME is listed twice"},
		{name: "frequency too short", entry: "githubUrl: https://github.test\norgs: [acme]\nschedule:\n  frequency: 30s\n", wantErr: "catalog.providers.githubOrg.main.schedule.frequency: must be at least 1m"},
		{name: "githubUrl not a URL", entry: "githubUrl: github.test\norgs: [acme]\n", wantErr: `catalog.providers.githubOrg.main.githubUrl: must be the http(s) URL of a GitHub instance, such as https://github.com, got "github.test"`},
		{name: "githubUrl with an organization's path", entry: "githubUrl: https://github.test/acme\norgs: [acme]\n", wantErr: "catalog.providers.githubOrg.main.githubUrl: must be the URL of the GitHub instance without a path"},
		{name: "githubUrl host not in integrations.github", entry: "githubUrl: https://ghe.example.com\norgs: [acme]\n", wantErr: "catalog.providers.githubOrg.main.githubUrl: ghe.example.com is not in integrations.github; add it there"},
		{name: "the default githubUrl needs github.com among the integrations", entry: "orgs: [acme]\n", wantErr: "catalog.providers.githubOrg.main.githubUrl: github.com is not in integrations.github"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tree := configtest.Tree(t, integrations+"catalog:\n  providers:\n    githubOrg:\n      main:\n"+indent(tt.entry, 8))
			c, err := config.Decode(tree, config.NewSection[discovery.Integrations]("integrations.github"), config.NewSection[discovery.OrgProviders]("catalog.providers.githubOrg"))
			if err == nil {
				cfg := config.Get[discovery.OrgProviders](c, "catalog.providers.githubOrg")["main"]
				_, err = discovery.NewOrgEntityProvider("main", cfg, config.Get[discovery.Integrations](c, "integrations.github"), nil, zerolog.Nop())
				if err == nil && tt.check != nil {
					tt.check(t, cfg)
				}
			}
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
		})
	}
}

// indent indents each line of a YAML document by n spaces.
func indent(doc string, n int) string {
	lines := strings.SplitAfter(doc, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = strings.Repeat(" ", n) + l
		}
	}
	return strings.Join(lines, "")
}

// TestOrgSync: a full sync reads the organization's members, their profiles and its teams
// (every list paginated) and provides a User per member and a Group per team; the catalog
// relates jane to both of her teams and the child team to its parent. A second sync after joe
// left the organization removes his User.
func TestOrgSync(t *testing.T) {
	t.Parallel()
	f := newOrgFixture(t)
	require.Equal(t, []string{"ann", "jane", "joe"}, f.names("user"))
	require.Equal(t, []string{"platform", "platform-infra"}, f.names("group"))

	jane := f.get("user", "jane")
	require.Equal(t, "backstage.io/v1alpha1", jane.APIVersion)
	require.Equal(t, "User", jane.Kind)
	require.Equal(t, "default", jane.Metadata.Namespace)
	require.Equal(t, map[string]string{"github.com/user-login": "jane", "github.com/user-id": "4"}, jane.Metadata.Annotations,
		"the login and the account id (the fake's id is the login's length); no managed-by-location annotations: the location key is the provider's")
	require.Equal(t, map[string]any{
		"profile":  map[string]any{"displayName": "Jane Doe", "email": "jane@acme.test", "picture": "https://avatars.test/u/jane"},
		"memberOf": []any{"platform", "platform-infra"},
	}, jane.Spec)
	require.True(t, hasRelation(jane, catalog.RelationMemberOf, "group:default/platform"), "%v", jane.Relations)
	require.True(t, hasRelation(jane, catalog.RelationMemberOf, "group:default/platform-infra"), "%v", jane.Relations)

	require.Equal(t, map[string]any{"displayName": "Joe Bloggs", "picture": "https://avatars.test/u/joe"}, f.get("user", "joe").Spec["profile"], "no email: it is private")
	require.Equal(t, []any{"platform"}, f.memberOf("joe"))
	ann := f.get("user", "ann")
	require.Equal(t, map[string]any{"picture": "https://avatars.test/u/ann"}, ann.Spec["profile"], "no name, no public email")
	require.Equal(t, []any{}, ann.Spec["memberOf"], "memberOf is required: an empty list")

	platform := f.get("group", "platform")
	require.Equal(t, "Group", platform.Kind)
	require.Equal(t, "Runs the platform", platform.Metadata.Description)
	require.Equal(t, map[string]string{"github.com/team-slug": "acme/platform"}, platform.Metadata.Annotations)
	require.Equal(t, map[string]any{"type": "team", "profile": map[string]any{"displayName": "Platform"}, "children": []any{}}, platform.Spec)
	require.True(t, hasRelation(platform, catalog.RelationParentOf, "group:default/platform-infra"), "%v", platform.Relations)
	require.True(t, hasRelation(platform, catalog.RelationHasMember, "user:default/joe"), "%v", platform.Relations)

	infra := f.get("group", "platform-infra")
	require.Empty(t, infra.Metadata.Description)
	require.Equal(t, map[string]any{"type": "team", "profile": map[string]any{"displayName": "Platform Infra"}, "parent": "platform", "children": []any{}}, infra.Spec)
	require.True(t, hasRelation(infra, catalog.RelationChildOf, "group:default/platform"), "%v", infra.Relations)
	require.True(t, hasRelation(infra, catalog.RelationHasMember, "user:default/jane"), "%v", infra.Relations)

	// joe leaves the organization; the next full sync removes his User.
	f.gh.setOrg("acme", []string{"jane", "ann"},
		fakeTeam{slug: "platform", name: "Platform", description: "Runs the platform", members: []string{"jane"}},
		fakeTeam{slug: "platform-infra", name: "Platform Infra", parent: "platform", members: []string{"jane"}},
	)
	require.NoError(t, f.p.Sync(context.Background()))
	require.Nil(t, f.get("user", "joe"))
	require.Equal(t, []string{"ann", "jane"}, f.names("user"))
	require.False(t, hasRelation(f.get("group", "platform"), catalog.RelationHasMember, "user:default/joe"))

	// When GitHub cannot be read, the sync fails and the catalog is left as it was.
	before := f.snapshot()
	f.gh.change(func() { f.gh.broken = true })
	require.Error(t, f.p.Sync(context.Background()))
	require.Equal(t, before, f.snapshot())
}

// TestOrgEventMembers: organization member_added reads the new member and their teams and
// adds the User; member_removed removes it. An error reading GitHub is returned, for the bus
// to try again.
func TestOrgEventMembers(t *testing.T) {
	t.Parallel()
	f := newOrgFixture(t)
	f.gh.change(func() {
		f.gh.members["acme"] = append(f.gh.members["acme"], "max")
		f.gh.users["max"] = fakeUser{name: "Max Power"}
		f.gh.teams["acme"][1].members = append(f.gh.teams["acme"][1].members, "max")
	})
	require.NoError(t, f.event(discovery.TopicOrganization, orgMemberEvent("acme", "member_added", "max")))
	max := f.get("user", "max")
	require.NotNil(t, max)
	require.Equal(t, map[string]any{"displayName": "Max Power", "picture": "https://avatars.test/u/max"}, max.Spec["profile"])
	require.Equal(t, []any{"platform", "platform-infra"}, max.Spec["memberOf"], "GitHub lists the members of platform-infra among platform's")
	require.True(t, hasRelation(max, catalog.RelationMemberOf, "group:default/platform-infra"))

	f.gh.change(func() { f.gh.members["acme"] = []string{"jane", "ann", "max"} })
	require.NoError(t, f.event(discovery.TopicOrganization, orgMemberEvent("acme", "member_removed", "joe")))
	require.Nil(t, f.get("user", "joe"))
	require.False(t, hasRelation(f.get("group", "platform"), catalog.RelationHasMember, "user:default/joe"))
	require.Equal(t, []string{"ann", "jane", "max"}, f.names("user"))

	// Other actions change nothing.
	before := f.snapshot()
	require.NoError(t, f.event(discovery.TopicOrganization, orgMemberEvent("acme", "member_invited", "zoe")))
	require.Equal(t, before, f.snapshot())

	// GitHub fails: the error goes back to the bus, which tries the event again.
	f.gh.change(func() {
		f.gh.broken = true
		f.gh.members["acme"] = append(f.gh.members["acme"], "zoe")
		f.gh.users["zoe"] = fakeUser{}
	})
	require.Error(t, f.event(discovery.TopicOrganization, orgMemberEvent("acme", "member_added", "zoe")))
	require.Nil(t, f.get("user", "zoe"))
	f.gh.change(func() { f.gh.broken = false })
	require.NoError(t, f.event(discovery.TopicOrganization, orgMemberEvent("acme", "member_added", "zoe")), "the retry")
	require.NotNil(t, f.get("user", "zoe"))
}

// TestOrgEventTeams: team created adds the Group, edited reads it again (a renamed team's
// Group is replaced and its members follow), deleted removes it with its child teams and takes
// them out of memberOf; repository changes are ignored.
func TestOrgEventTeams(t *testing.T) {
	t.Parallel()
	f := newOrgFixture(t)

	security := fakeTeam{slug: "security", name: "Security", description: "Keeps us safe", parent: "platform"}
	f.gh.change(func() { f.gh.teams["acme"] = append(f.gh.teams["acme"], security) })
	require.NoError(t, f.event(discovery.TopicTeam, teamEvent("acme", "created", security)))
	g := f.get("group", "security")
	require.NotNil(t, g)
	require.Equal(t, "Keeps us safe", g.Metadata.Description)
	require.Equal(t, map[string]any{"type": "team", "profile": map[string]any{"displayName": "Security"}, "parent": "platform", "children": []any{}}, g.Spec)
	require.True(t, hasRelation(f.get("group", "platform"), catalog.RelationParentOf, "group:default/security"))

	// edited: a new description.
	f.gh.change(func() { f.gh.teams["acme"][0].description = "Runs the whole platform" })
	require.NoError(t, f.event(discovery.TopicTeam, teamEvent("acme", "edited", f.gh.teams["acme"][0])))
	require.Equal(t, "Runs the whole platform", f.get("group", "platform").Metadata.Description)

	// edited: platform-infra is renamed Infrastructure, which changes its slug.
	f.gh.change(func() { f.gh.teams["acme"][1].slug, f.gh.teams["acme"][1].name = "infrastructure", "Infrastructure" })
	renamed := teamEvent("acme", "edited", f.gh.teams["acme"][1])
	renamed["changes"] = map[string]any{"name": map[string]any{"from": "Platform Infra"}}
	require.NoError(t, f.event(discovery.TopicTeam, renamed))
	require.Nil(t, f.get("group", "platform-infra"))
	infra := f.get("group", "infrastructure")
	require.NotNil(t, infra)
	require.Equal(t, "acme/infrastructure", infra.Metadata.Annotations["github.com/team-slug"])
	require.True(t, hasRelation(infra, catalog.RelationChildOf, "group:default/platform"))
	require.Equal(t, []any{"infrastructure", "platform"}, f.memberOf("jane"))
	require.True(t, hasRelation(infra, catalog.RelationHasMember, "user:default/jane"))

	// Repository changes do not concern the Group: nothing is read, nothing changes.
	before, requests := f.snapshot(), f.gh.orgRequests()
	require.NoError(t, f.event(discovery.TopicTeam, teamEvent("acme", "added_to_repository", f.gh.teams["acme"][0])))
	require.NoError(t, f.event(discovery.TopicTeam, teamEvent("acme", "removed_from_repository", f.gh.teams["acme"][0])))
	require.Equal(t, before, f.snapshot())
	require.Equal(t, requests, f.gh.orgRequests())

	// deleted: a child team.
	f.gh.change(func() { f.gh.teams["acme"] = slices.Delete(f.gh.teams["acme"], 1, 2) })
	require.NoError(t, f.event(discovery.TopicTeam, teamEvent("acme", "deleted", fakeTeam{slug: "infrastructure", name: "Infrastructure", parent: "platform"})))
	require.Nil(t, f.get("group", "infrastructure"))
	require.Equal(t, []any{"platform"}, f.memberOf("jane"))

	// deleted: the parent, which GitHub deletes with its children.
	f.gh.change(func() { f.gh.teams["acme"] = nil })
	require.NoError(t, f.event(discovery.TopicTeam, teamEvent("acme", "deleted", fakeTeam{slug: "platform", name: "Platform"})))
	require.Empty(t, f.names("group"))
	require.Equal(t, []any{}, f.memberOf("jane"))
	require.Equal(t, []any{}, f.memberOf("joe"))
	require.Empty(t, f.get("user", "jane").Relations)
}

// TestOrgEventMemberships: membership added and removed read the member's teams again and
// update the User's memberOf; one for a user the provider does not have adds nothing.
func TestOrgEventMemberships(t *testing.T) {
	t.Parallel()
	f := newOrgFixture(t)
	platform, infra := fakeTeam{slug: "platform", name: "Platform"}, fakeTeam{slug: "platform-infra", name: "Platform Infra", parent: "platform"}

	f.gh.change(func() { f.gh.teams["acme"][1].members = []string{"jane", "ann"} })
	require.NoError(t, f.event(discovery.TopicMembership, membershipEvent("acme", "added", "ann", infra)))
	require.Equal(t, []any{"platform", "platform-infra"}, f.memberOf("ann"), "GitHub lists the members of platform-infra among platform's")
	require.True(t, hasRelation(f.get("group", "platform-infra"), catalog.RelationHasMember, "user:default/ann"))

	f.gh.change(func() { f.gh.teams["acme"][0].members = []string{"jane"} })
	require.NoError(t, f.event(discovery.TopicMembership, membershipEvent("acme", "removed", "joe", platform)))
	require.Equal(t, []any{}, f.memberOf("joe"))
	require.False(t, hasRelation(f.get("group", "platform"), catalog.RelationHasMember, "user:default/joe"))

	// A membership event that arrives after its member left the organization (GitHub sends
	// them in no set order) does not bring the User back.
	f.gh.change(func() { f.gh.users["gone"] = fakeUser{} })
	require.NoError(t, f.event(discovery.TopicMembership, membershipEvent("acme", "removed", "gone", platform)))
	require.Nil(t, f.get("user", "gone"))
}

// TestOrgEventOtherOrganization: events of an organization the provider does not import
// change nothing and read nothing.
func TestOrgEventOtherOrganization(t *testing.T) {
	t.Parallel()
	f := newOrgFixture(t)
	f.gh.setOrg("umbrella", []string{"jane", "wes"}, fakeTeam{slug: "labs", name: "Labs", members: []string{"wes"}})
	before, requests := f.snapshot(), f.gh.orgRequests()
	events := []struct {
		topic   string
		payload map[string]any
	}{
		{discovery.TopicOrganization, orgMemberEvent("umbrella", "member_added", "wes")},
		{discovery.TopicOrganization, orgMemberEvent("umbrella", "member_removed", "jane")},
		{discovery.TopicTeam, teamEvent("umbrella", "created", fakeTeam{slug: "labs", name: "Labs"})},
		{discovery.TopicTeam, teamEvent("umbrella", "edited", fakeTeam{slug: "platform", name: "Platform"})},
		{discovery.TopicTeam, teamEvent("umbrella", "deleted", fakeTeam{slug: "platform", name: "Platform"})},
		{discovery.TopicMembership, membershipEvent("umbrella", "added", "jane", fakeTeam{slug: "labs", name: "Labs"})},
		{discovery.TopicMembership, membershipEvent("umbrella", "removed", "jane", fakeTeam{slug: "platform", name: "Platform"})},
	}
	for _, e := range events {
		require.NoError(t, f.event(e.topic, e.payload))
	}
	require.NoError(t, f.p.Subscription().Handler(context.Background(), eventsvc.Event{Topic: discovery.TopicTeam, Payload: []byte("not json")}))
	require.Equal(t, before, f.snapshot())
	require.Equal(t, requests, f.gh.orgRequests())
}

// TestOrgWebhooksUpdateTheCatalog: through the real modules, catalog.providers.githubOrg
// syncs at start-up, and signed organization, membership and team webhooks reach the provider
// on their sub-topics.
func TestOrgWebhooksUpdateTheCatalog(t *testing.T) {
	gh := newFakeGitHub(t)
	acmeOrg(gh)
	s := startCatalogStack(t, gh, indent("githubOrg:\n  people:\n    githubUrl: https://github.test\n    orgs: [acme]\n", 4))
	s.waitFor("the start-up sync imports the organization", func() bool { return s.byName("user", "jane") != nil && s.byName("group", "platform-infra") != nil })

	gh.change(func() {
		gh.members["acme"] = append(gh.members["acme"], "max")
		gh.users["max"] = fakeUser{name: "Max Power"}
		gh.teams["acme"][0].members = append(gh.teams["acme"][0].members, "max")
	})
	s.webhook("organization", orgMemberEvent("acme", "member_added", "max"))
	s.waitFor("the new member is a User", func() bool { return s.byName("user", "max") != nil })
	s.change(catalog.TopicEntityUpserted, "user:default/max")

	gh.change(func() { gh.teams["acme"][1].members = append(gh.teams["acme"][1].members, "max") })
	s.webhook("membership", membershipEvent("acme", "added", "max", fakeTeam{slug: "platform-infra", name: "Platform Infra", parent: "platform"}))
	s.waitFor("max is in platform-infra", func() bool {
		e := s.byName("user", "max")
		return e != nil && len(e["spec"].(map[string]any)["memberOf"].([]any)) == 2
	})

	gh.change(func() { gh.teams["acme"] = gh.teams["acme"][:1] })
	s.webhook("team", teamEvent("acme", "deleted", fakeTeam{slug: "platform-infra", name: "Platform Infra", parent: "platform"}))
	s.waitFor("the deleted team's Group is gone", func() bool { return s.byName("group", "platform-infra") == nil })
	s.change(catalog.TopicEntityDeleted, "group:default/platform-infra")
}

// byName reads an entity of any kind through the catalog API; nil when there is none.
func (s catalogStack) byName(kind, name string) map[string]any {
	s.t.Helper()
	r := httpservertest.Authorize(httptest.NewRequest(http.MethodGet, "/api/catalog/entities/by-name/"+kind+"/default/"+name, nil))
	w := httptest.NewRecorder()
	s.srv.Handler().ServeHTTP(w, r)
	if w.Code == http.StatusNotFound {
		return nil
	}
	require.Equal(s.t, http.StatusOK, w.Code, w.Body.String())
	var e map[string]any
	require.NoError(s.t, json.Unmarshal(w.Body.Bytes(), &e))
	return e
}
