package oidc_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth/providers/oidc"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"valid", `production:
  metadataUrl: https://idp.example/.well-known/openid-configuration
  clientId: stagebus
  clientSecret: s3cret
  signIn: {resolvers: [{resolver: emailLocalPartMatchingUserEntityName}]}`, nil},
		{"off: nothing set (left to unset environment variables)", `production:
  metadataUrl: ""
  clientId: ""
  clientSecret: ""
  signIn: {resolvers: [{resolver: emailLocalPartMatchingUserEntityName}]}`, nil},
		{"everything wrong", `production:
  metadataUrl: idp.example
  scope: profile email
  signIn: {resolvers: []}`, []string{
			"auth.providers.oidc.production.metadataUrl: must be the issuer's discovery URL",
			"auth.providers.oidc.production.clientId: is required",
			"auth.providers.oidc.production.clientSecret: is required",
			"auth.providers.oidc.production.scope: must include openid",
			"auth.providers.oidc.production.signIn.resolvers: list at least one sign-in resolver",
		}},
		{"unknown resolver", `development:
  metadataUrl: https://idp.example
  clientId: stagebus
  clientSecret: s3cret
  signIn: {resolvers: [{resolver: anyoneGoes}]}`, []string{"auth.providers.oidc.development.signIn.resolvers[0].resolver: must be one of"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := configtest.Tree(t, "auth:\n  providers:\n    oidc:\n"+indent(tc.yaml, "      "))
			_, err := config.Decode(tree, config.NewSection[oidc.Environments]("auth.providers.oidc"))
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func indent(s, by string) string { return by + strings.ReplaceAll(s, "\n", "\n"+by) + "\n" }
