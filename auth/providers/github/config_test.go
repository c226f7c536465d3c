package github_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth/providers/github"
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
		{"github.com", "production:\n  clientId: c\n  clientSecret: s\n  signIn: {resolvers: [{resolver: usernameMatchingUserEntityName}]}", nil},
		{"enterprise", "production:\n  clientId: c\n  clientSecret: s\n  enterpriseInstanceUrl: https://ghe.example\n  signIn: {resolvers: [{resolver: usernameMatchingUserEntityName}]}", nil},
		{"off: no client (left to unset environment variables)", "production:\n  clientId: \"\"\n  clientSecret: \"\"\n  signIn: {resolvers: [{resolver: usernameMatchingUserEntityName}]}", nil},
		{"everything wrong", "production:\n  clientSecret: s\n  enterpriseInstanceUrl: ghe.example\n  signIn: {resolvers: [{resolver: guess}]}", []string{
			"auth.providers.github.production.clientId: is required",
			"auth.providers.github.production.enterpriseInstanceUrl: must be the URL of a GitHub Enterprise Server",
			"auth.providers.github.production.signIn.resolvers[0].resolver: must be one of",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "auth:\n  providers:\n    github:\n      " + strings.ReplaceAll(tc.yaml, "\n", "\n      ") + "\n"
			_, err := config.Decode(configtest.Tree(t, yaml), config.NewSection[github.Environments]("auth.providers.github"))
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
