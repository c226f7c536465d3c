package signin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
)

// The sign-in resolvers, as Backstage names them.
const (
	// ResolverUsername matches the provider's username to a User entity's metadata.name.
	ResolverUsername = "usernameMatchingUserEntityName"
	// ResolverEmail matches the verified email to a User entity's spec.profile.email.
	ResolverEmail = "emailMatchingUserEntityProfileEmail"
	// ResolverEmailLocalPart matches the verified email's local part to a User entity's
	// metadata.name.
	ResolverEmailLocalPart = "emailLocalPartMatchingUserEntityName"
	// ResolverUserID matches the GitHub account id to a User entity's github.com/user-id
	// annotation (catalog.providers.githubOrg writes it): unlike a login, no one else can take
	// an account id.
	ResolverUserID = "userIdMatchingUserEntityAnnotation"
)

// userIDAnnotation is the annotation ResolverUserID matches.
const userIDAnnotation = "github.com/user-id"

// ResolverConfig is one entry of a provider's signIn.resolvers.
type ResolverConfig struct {
	Resolver string `yaml:"resolver"`
	// AllowedDomains restricts the email resolvers to addresses of these domains (an issuer
	// that signs in any account, Google's, would otherwise give jane@gmail.com the catalog's
	// jane).
	AllowedDomains []string `yaml:"allowedDomains"`
	// DangerouslyAllowSignInWithoutUserInCatalog signs in a person no User entity matches,
	// as user:default/<name> owning only itself, unless a User of that name exists (someone
	// else, then).
	DangerouslyAllowSignInWithoutUserInCatalog bool `yaml:"dangerouslyAllowSignInWithoutUserInCatalog"`
}

// Validate checks the resolver's name.
func (r ResolverConfig) Validate() error {
	switch r.Resolver {
	case ResolverUsername, ResolverEmail, ResolverEmailLocalPart, ResolverUserID:
		return nil
	}
	return config.Fieldf("resolver", "must be one of %s, %s, %s, %s, got %q", ResolverUsername, ResolverEmail, ResolverEmailLocalPart, ResolverUserID, r.Resolver)
}

// SignInConfig is a provider's signIn section.
type SignInConfig struct {
	Resolvers []ResolverConfig `yaml:"resolvers"`
}

// Validate requires a resolver: without one nobody can sign in.
func (s SignInConfig) Validate() error {
	if len(s.Resolvers) == 0 {
		return config.Fieldf("resolvers", "list at least one sign-in resolver, e.g. [{resolver: %s}]", ResolverEmail)
	}
	return nil
}

// errNoUser is why a sign-in is refused when no resolver finds the person. Its text is what
// the audit log records; the person is told only that the sign-in was refused.
var errNoUser = errors.New("no sign-in resolver matched a user of the catalog")

// Users finds the User entities sign-in resolvers match.
type Users struct {
	store *catalog.Store
}

// NewUsers returns the resolvers' view of the catalog.
func NewUsers(store *catalog.Store) *Users { return &Users{store: store} }

// Resolve runs the resolvers in order on what the provider says, and returns the identity of
// the first that matches: the User entity's ref and ownership (itself and the groups it is a
// member of). errNoUser when none matches.
func (u *Users) Resolve(ctx context.Context, resolvers []ResolverConfig, id Identity) (auth.UserInfo, string, error) {
	var tried []string
	for _, r := range resolvers {
		tried = append(tried, r.Resolver)
		local, domain, _ := strings.Cut(id.Email, "@")
		// name is the User's name the resolver's match would give; it matches key=value.
		name, key, value := local, "metadata.name", local
		switch r.Resolver {
		case ResolverUsername:
			name, value = id.Username, id.Username
		case ResolverEmail:
			key, value = "spec.profile.email", id.Email
		case ResolverUserID:
			name, key, value = id.Username, "metadata.annotations."+userIDAnnotation, id.UserID
		}
		if (r.Resolver == ResolverEmail || r.Resolver == ResolverEmailLocalPart) && len(r.AllowedDomains) > 0 && !slices.ContainsFunc(r.AllowedDomains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			continue // an address of another domain
		}
		if !identityValue.MatchString(name) || !identityValue.MatchString(value) {
			continue // nothing this resolver matches on, or a value no entity can have
		}
		info, matches, err := u.find(ctx, key+"="+value)
		if err != nil {
			return auth.UserInfo{}, r.Resolver, err
		}
		if matches == 1 {
			return info, r.Resolver, nil
		}
		if matches == 0 && r.DangerouslyAllowSignInWithoutUserInCatalog {
			// The name must not be someone else's: a User of that name that this resolver did
			// not match (another email, say) keeps it.
			_, taken, err := u.find(ctx, "metadata.name="+name)
			if err != nil {
				return auth.UserInfo{}, r.Resolver, err
			}
			if taken == 0 {
				ref := catalog.EntityRef{Kind: "user", Namespace: catalog.DefaultNamespace, Name: name}
				return auth.UserInfo{UserEntityRef: ref.String(), OwnershipEntityRefs: []string{ref.String()}}, r.Resolver, nil
			}
		}
	}
	return auth.UserInfo{}, strings.Join(tried, ","), errNoUser
}

// identityValue is what a username or an email may be to be matched: ASCII without spaces
// or the filter syntax's comma, so that no Unicode case folding or trimming makes it someone
// else's.
var identityValue = regexp.MustCompile(`^[A-Za-z0-9._%+@-]+$`)

// find looks up the User entities of the default namespace matching filter: how many (0, 1,
// or 2 for several), and the identity of the one.
func (u *Users) find(ctx context.Context, filter string) (auth.UserInfo, int, error) {
	filters, err := catalog.ParseFilters([]string{"kind=user,metadata.namespace=default," + filter})
	if err != nil {
		return auth.UserInfo{}, 0, nil // a value the filter syntax cannot hold matches nothing
	}
	users, _, err := u.store.Query(ctx, catalog.Query{Filters: filters, Limit: 2, SkipTotal: true})
	switch {
	case err != nil:
		return auth.UserInfo{}, 0, fmt.Errorf("look up the user: %w", err)
	case len(users) != 1: // none, or ambiguous
		return auth.UserInfo{}, len(users), nil
	}
	ref := users[0].Ref().String()
	info := auth.UserInfo{UserEntityRef: ref, OwnershipEntityRefs: []string{ref}}
	for _, rel := range users[0].Relations {
		if rel.Type == catalog.RelationMemberOf {
			info.OwnershipEntityRefs = append(info.OwnershipEntityRefs, rel.TargetRef)
		}
	}
	return info, 1, nil
}
