package signin

import (
	"context"
	"errors"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
)

// Provider is a sign-in provider configured for this auth.environment.
type Provider interface {
	// ID is the provider's key in auth.providers and its route segment (oidc, github).
	ID() string
	// AuthCodeURL is where start sends the browser: the provider's authorization endpoint
	// with state, the OpenID nonce, the PKCE challenge of verifier and the callback URL.
	AuthCodeURL(ctx context.Context, state, nonce, verifier, callback string) (string, error)
	// Exchange trades a callback's code for the signed-in identity, checking what the
	// provider says against nonce.
	Exchange(ctx context.Context, code, verifier, nonce, callback string) (Result, error)
	// Refresh signs in again with what the refresh cookie keeps (Result.RefreshToken of an
	// earlier sign-in).
	Refresh(ctx context.Context, refreshToken string) (Result, error)
	// Resolvers are the provider's signIn.resolvers, tried in order.
	Resolvers() []ResolverConfig
}

// AsProvider annotates a constructor returning a Provider (nil when the provider is not
// configured for this environment) so that it joins the "auth.signin.providers" group.
func AsProvider(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"auth.signin.providers"`))
}

// Result is what a provider says about the person who signed in.
type Result struct {
	// Profile is shown by frontends.
	Profile Profile
	// Identity is what the sign-in resolvers match.
	Identity Identity
	// ProviderInfo goes to the frontend as Backstage's providerInfo (accessToken, idToken,
	// scope, expiresInSeconds).
	ProviderInfo map[string]any
	// RefreshToken is kept in the refresh cookie when not empty.
	RefreshToken string
}

// Profile is Backstage's profile of a signed-in person.
type Profile struct {
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Picture     string `json:"picture,omitempty"`
}

// Identity is what a provider knows about a person for the resolvers.
type Identity struct {
	// Username is the provider's login (GitHub's), for usernameMatchingUserEntityName.
	Username string
	// UserID is the provider's account id (GitHub's), for userIdMatchingUserEntityAnnotation.
	UserID string
	// Email is a verified email address, for the email resolvers ("" when the provider did
	// not verify one).
	Email string
}

// ErrProvider wraps what went wrong with the provider (a refused code, a bad ID token): the
// sign-in fails, and the reason is audited.
var ErrProvider = errors.New("the sign-in provider refused or failed")

// ProviderModule is the fx module of a kind of provider: it reads auth.providers.<id>, a
// configuration of type C per auth.environment, and provides (to the group AsProvider
// joins) the provider build makes of the current environment's entry, when there is one.
func ProviderModule[C any](name, id string, build func(C) Provider) fx.Option {
	return fx.Module(name,
		config.Provide[map[string]C]("auth.providers."+id),
		fx.Provide(AsProvider(func(envs map[string]C, env config.Environment) Provider {
			cfg, ok := envs[string(env)]
			if !ok {
				return nil
			}
			return build(cfg)
		})),
	)
}
