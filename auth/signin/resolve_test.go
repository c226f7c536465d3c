package signin_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/signin"
	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
)

func user(name, email string, groups ...any) catalog.DeferredEntity {
	spec := map[string]any{"profile": map[string]any{"email": email}, "memberOf": groups}
	return catalog.DeferredEntity{Entity: catalog.Entity{APIVersion: "backstage.io/v1alpha1", Kind: "User", Metadata: catalog.Metadata{Name: name}, Spec: spec}, LocationKey: "test"}
}

// withGitHubID gives a User the account id the organization provider records.
func withGitHubID(d catalog.DeferredEntity, id string) catalog.DeferredEntity {
	d.Entity.Metadata.Annotations = map[string]string{"github.com/user-id": id}
	return d
}

// TestResolvers: each resolver finds the User entity it matches on, with its groups as
// ownership; an ambiguous email matches nobody; without a match the sign-in is refused unless
// the resolver allows users outside the catalog.
func TestResolvers(t *testing.T) {
	t.Parallel()
	model, err := catalog.NewModel(nil)
	require.NoError(t, err)
	store := catalog.NewStore(databasetest.SQLite(t, catalog.Migrations), &eventsvctest.Recorder{}, model, zerolog.Nop())
	_, err = store.ApplyMutation(context.Background(), "test", catalog.Mutation{Type: catalog.Full, Entities: []catalog.DeferredEntity{
		user("jane", "jane.doe@example.com", "team-a", "team-b"), withGitHubID(user("octocat", "cat@example.com"), "583231"),
		user("twin-1", "twin@example.com"), user("twin-2", "twin@example.com"),
	}})
	require.NoError(t, err)
	users := signin.NewUsers(store)
	jane := auth.UserInfo{UserEntityRef: "user:default/jane", OwnershipEntityRefs: []string{"user:default/jane", "group:default/team-a", "group:default/team-b"}}
	for _, tc := range []struct {
		name      string
		resolvers []signin.ResolverConfig
		id        signin.Identity
		want      auth.UserInfo
		refused   bool
	}{
		{"username", []signin.ResolverConfig{{Resolver: signin.ResolverUsername}}, signin.Identity{Username: "Jane"}, jane, false},
		{"account id", []signin.ResolverConfig{{Resolver: signin.ResolverUserID}}, signin.Identity{Username: "renamed", UserID: "583231"},
			auth.UserInfo{UserEntityRef: "user:default/octocat", OwnershipEntityRefs: []string{"user:default/octocat"}}, false},
		{"another account with the login", []signin.ResolverConfig{{Resolver: signin.ResolverUserID}}, signin.Identity{Username: "octocat", UserID: "999"}, auth.UserInfo{}, true},
		{"an account id of no one", []signin.ResolverConfig{{Resolver: signin.ResolverUserID}}, signin.Identity{Username: "jane", UserID: ""}, auth.UserInfo{}, true},
		{"email", []signin.ResolverConfig{{Resolver: signin.ResolverEmail}}, signin.Identity{Email: "JANE.DOE@example.com"}, jane, false},
		{"email local part", []signin.ResolverConfig{{Resolver: signin.ResolverEmailLocalPart}}, signin.Identity{Email: "octocat@elsewhere.example"},
			auth.UserInfo{UserEntityRef: "user:default/octocat", OwnershipEntityRefs: []string{"user:default/octocat"}}, false},
		{"the second resolver matches", []signin.ResolverConfig{{Resolver: signin.ResolverUsername}, {Resolver: signin.ResolverEmail}},
			signin.Identity{Username: "jdoe", Email: "jane.doe@example.com"}, jane, false},
		{"two users with the email match nobody", []signin.ResolverConfig{{Resolver: signin.ResolverEmail}}, signin.Identity{Email: "twin@example.com"}, auth.UserInfo{}, true},
		{"no user", []signin.ResolverConfig{{Resolver: signin.ResolverUsername}}, signin.Identity{Username: "mallory"}, auth.UserInfo{}, true},
		{"nothing to match on", []signin.ResolverConfig{{Resolver: signin.ResolverEmail}}, signin.Identity{Username: "jane"}, auth.UserInfo{}, true},
		{"a value the filter syntax cannot hold", []signin.ResolverConfig{{Resolver: signin.ResolverUsername}}, signin.Identity{Username: "jane,kind=group"}, auth.UserInfo{}, true},
		{"outside the catalog, allowed", []signin.ResolverConfig{{Resolver: signin.ResolverEmailLocalPart, DangerouslyAllowSignInWithoutUserInCatalog: true}},
			signin.Identity{Email: "guest@example.com"}, auth.UserInfo{UserEntityRef: "user:default/guest", OwnershipEntityRefs: []string{"user:default/guest"}}, false},
		{"outside the catalog, but the name is someone else's", []signin.ResolverConfig{{Resolver: signin.ResolverEmail, DangerouslyAllowSignInWithoutUserInCatalog: true}},
			signin.Identity{Email: "jane@attacker.example"}, auth.UserInfo{}, true},
		{"outside the catalog, but ambiguous", []signin.ResolverConfig{{Resolver: signin.ResolverEmail, DangerouslyAllowSignInWithoutUserInCatalog: true}},
			signin.Identity{Email: "twin@example.com"}, auth.UserInfo{}, true},
		{"allowed domain", []signin.ResolverConfig{{Resolver: signin.ResolverEmailLocalPart, AllowedDomains: []string{"Example.com"}}},
			signin.Identity{Email: "jane@example.com"}, jane, false},
		{"another domain", []signin.ResolverConfig{{Resolver: signin.ResolverEmailLocalPart, AllowedDomains: []string{"example.com"}}},
			signin.Identity{Email: "jane@gmail.com"}, auth.UserInfo{}, true},
		{"a look-alike name (Kelvin sign)", []signin.ResolverConfig{{Resolver: signin.ResolverUsername}}, signin.Identity{Username: "\u212Aate"}, auth.UserInfo{}, true},
		{"a name with spaces", []signin.ResolverConfig{{Resolver: signin.ResolverUsername}}, signin.Identity{Username: " jane\t"}, auth.UserInfo{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := users.Resolve(context.Background(), tc.resolvers, tc.id)
			if tc.refused {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
