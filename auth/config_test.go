package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
)

// sections are the auth module's sections and the foundation's auth.environment.
var sections = []config.Section{
	config.NewSection[config.Environment](config.EnvironmentPath),
	config.NewSection[auth.Admins](auth.AdminsPath),
	config.NewSection[auth.KeyRotation](auth.KeyRotationPath),
	config.NewSection[auth.TokenExpiration](auth.TokenExpirationPath),
	config.NewSection[auth.OmitOwnershipClaim](auth.OmitOwnershipClaimPath),
	config.NewSection[auth.GuestProvider](auth.GuestProviderPath),
	config.NewSection[auth.BackendAuth](auth.BackendAuthPath),
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		check   func(t *testing.T, c *config.Config)
		wantErr []string
	}{
		{name: "defaults", yaml: "{}", check: func(t *testing.T, c *config.Config) {
			require.Empty(t, config.Get[auth.Admins](c, auth.AdminsPath))
			require.Equal(t, time.Hour, config.Get[auth.KeyRotation](c, auth.KeyRotationPath).Duration())
			require.Equal(t, time.Hour, config.Get[auth.TokenExpiration](c, auth.TokenExpirationPath).Duration())
			require.False(t, bool(config.Get[auth.OmitOwnershipClaim](c, auth.OmitOwnershipClaimPath)), "ent is kept for 1.24-era plugins")
			g := config.Get[auth.GuestProvider](c, auth.GuestProviderPath)
			require.Equal(t, "user:development/guest", g.UserEntityRef)
			require.Equal(t, []string{"user:development/guest"}, g.Ownership())
			require.False(t, g.DangerouslyAllowOutsideDevelopment)
			require.Empty(t, config.Get[auth.BackendAuth](c, auth.BackendAuthPath).ExternalAccess)
		}},
		{name: "durations in every form", yaml: "auth:\n  keyRotation: 14d\n  backstageTokenExpiration: {minutes: 30}\n", check: func(t *testing.T, c *config.Config) {
			require.Equal(t, 14*24*time.Hour, config.Get[auth.KeyRotation](c, auth.KeyRotationPath).Duration())
			require.Equal(t, 30*time.Minute, config.Get[auth.TokenExpiration](c, auth.TokenExpirationPath).Duration())
		}},
		{name: "a full Backstage-style file", yaml: `
auth:
  environment: production
  admins: [user:default/alice]
  omitIdentityTokenOwnershipClaim: true
  providers:
    guest:
      userEntityRef: user:default/visitor
      dangerouslyAllowOutsideDevelopment: true
backend:
  auth:
    externalAccess:
      - type: static
        options:
          token: ci-token-0123456789abcdefghij
          subject: ci
        accessRestrictions:
          - plugin: catalog
          - routePrefix: /api/events/http/
      - type: jwks
        options:
          url: https://idp.example/.well-known/jwks.json
          issuer: https://idp.example
          algorithm: RS256
          audience: [stagebus, portal]
          subjectPrefix: idp
`, check: func(t *testing.T, c *config.Config) {
			require.Equal(t, []string{"user:default/alice"}, config.Get[auth.Admins](c, auth.AdminsPath).Strings())
			require.True(t, bool(config.Get[auth.OmitOwnershipClaim](c, auth.OmitOwnershipClaimPath)))
			ext := config.Get[auth.BackendAuth](c, auth.BackendAuthPath).ExternalAccess
			require.Len(t, ext, 2)
			require.Equal(t, "ci-token-0123456789abcdefghij", ext[0].Options.Token.Value())
			require.Equal(t, []string{"/api/catalog", "/api/events/http"}, ext[0].Restrictions())
			require.Nil(t, ext[1].Restrictions())
			require.Equal(t, auth.Audiences{"stagebus", "portal"}, ext[1].Options.Audience)
		}},
		{name: "audience as one string", yaml: "backend:\n  auth:\n    externalAccess:\n      - type: jwks\n        options: {url: 'http://127.0.0.1:9/jwks', audience: stagebus}\n", check: func(t *testing.T, c *config.Config) {
			require.Equal(t, auth.Audiences{"stagebus"}, config.Get[auth.BackendAuth](c, auth.BackendAuthPath).ExternalAccess[0].Options.Audience)
		}},
		{name: "every problem at once", yaml: `
auth:
  admins: [alice, group:default/admins]
  keyRotation: 10s
  backstageTokenExpiration: soon
  providers:
    guest:
      userEntityRef: guest
    github: {}
backend:
  auth:
    dangerouslyDisableDefaultAuthPolicy: true
    externalAccess:
      - type: static
        options: {token: too-short, subject: ci}
      - type: static
        options: {token: "has whitespace in the middle of it", subject: ci}
      - type: static
        options: {subject: ci}
      - type: legacy
        options: {subject: ci}
      - type: jwks
        options: {url: 'http://idp.example/jwks', algorithm: HS256, token: x}
      - type: static
        options: {token: ci-token-0123456789abcdefghij, subject: ci}
        accessRestrictions: []
      - type: static
        options: {token: ci-token-0123456789abcdefghij, subject: other}
        accessRestrictions: [{plugin: Catalog}, {routePrefix: api}, {}, {plugin: a, routePrefix: /b}]
`, wantErr: []string{
			`auth.admins[0]: must be a full entity ref kind:namespace/name such as user:default/alice, got "alice"`,
			`auth.admins[1]: must be a user entity ref such as user:default/alice, got "group:default/admins"`,
			"auth.keyRotation: must be between 1m and 30d, got 10s",
			"auth.backstageTokenExpiration: expected a duration such as 30s, 5m, 1h or 14d",
			"auth.providers.guest.userEntityRef: must be a full entity ref",
			`auth.providers.github: unknown key`,
			"backend.auth.dangerouslyDisableDefaultAuthPolicy: is not supported",
			"backend.auth.externalAccess[0].options.token: is too short: static tokens need at least 22 characters",
			"backend.auth.externalAccess[1].options.token: must not contain whitespace",
			"backend.auth.externalAccess[2].options.token: is required for type static",
			"backend.auth.externalAccess[3].type: legacy (HS256 shared-secret) tokens are not supported",
			"backend.auth.externalAccess[4].options.url: must use https (http is accepted only for loopback addresses)",
			"backend.auth.externalAccess[4].options.algorithm: must be one of ES256",
			"backend.auth.externalAccess[4].options.token: is not an option of type jwks",
			"backend.auth.externalAccess[5].accessRestrictions: must not be empty; leave it out for full access",
			"backend.auth.externalAccess[6].options.token: is the same token as externalAccess[5]",
			"backend.auth.externalAccess[6].accessRestrictions[0].plugin: must be a plugin id",
			"backend.auth.externalAccess[6].accessRestrictions[1].routePrefix: must be a path starting with /",
			"backend.auth.externalAccess[6].accessRestrictions[2]: needs routePrefix (e.g. /api/catalog) or plugin (e.g. catalog)",
			"backend.auth.externalAccess[6].accessRestrictions[3]: give either routePrefix or plugin, not both",
		}},
		{name: "Backstage permission restrictions are not supported", yaml: "backend:\n  auth:\n    externalAccess:\n      - type: static\n        options: {token: ci-token-0123456789abcdefghij, subject: ci}\n        accessRestrictions: [{plugin: catalog, permission: catalog.entity.read}]\n",
			wantErr: []string{"backend.auth.externalAccess[0].accessRestrictions[0].permission: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Decode(configtest.Tree(t, tt.yaml), sections...)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, want := range tt.wantErr {
					require.Contains(t, err.Error(), want)
				}
				require.NotContains(t, err.Error(), "ci-token-0123456789abcdefghij", "errors never show a token")
				require.NotContains(t, err.Error(), "too-short")
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// TestConfigPrint: config print redacts static tokens and shows durations as durations.
func TestConfigPrint(t *testing.T) {
	t.Parallel()
	c, err := config.Decode(configtest.Tree(t, `
auth:
  keyRotation: {hours: 2}
backend:
  auth:
    externalAccess:
      - type: static
        options: {token: ci-token-0123456789abcdefghij, subject: ci}
`), sections...)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, c.Print(&b))
	out := b.String()
	require.NotContains(t, out, "ci-token-0123456789abcdefghij")
	require.Contains(t, out, config.Redacted)
	require.Contains(t, out, "keyRotation: 2h0m0s")
	require.Contains(t, out, "backstageTokenExpiration: 1h0m0s")
	require.Contains(t, out, "userEntityRef: user:development/guest")

	// What config print shows loads back to the same configuration.
	again, err := config.Decode(configtest.Tree(t, strings.ReplaceAll(out, config.Redacted, "ci-token-0123456789abcdefghij")), sections...)
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, config.Get[auth.KeyRotation](again, auth.KeyRotationPath).Duration())
}
