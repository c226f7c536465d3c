package compat_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// serviceToken is a static external-access token: a service principal.
const serviceToken = "compat-ci-token-0123456789abcdef"

// TestUserTokens verifies Stagebus's user tokens with jose as Backstage's backends do, and
// runs @backstage/backend-defaults' DefaultUserInfoService and UserTokenHandler (limited
// tokens rebuilt from uip) and @backstage/plugin-auth-node's DefaultIdentityClient against
// them (auth.mjs), with the ownership claim in the tokens (the default) and without it.
func TestUserTokens(t *testing.T) {
	t.Parallel()
	dir := npmProject(t)
	for _, omit := range []bool{false, true} {
		t.Run("omitIdentityTokenOwnershipClaim="+strconv.FormatBool(omit), func(t *testing.T) {
			t.Parallel()
			s := start(t, "  omitIdentityTokenOwnershipClaim: "+strconv.FormatBool(omit)+`
  providers:
    guest:
      ownershipEntityRefs: [user:development/guest, group:default/team-a]
`, `  auth:
    externalAccess:
      - type: static
        options: {token: `+serviceToken+`, subject: ci}
`)
			checked := node(t, dir, "auth.mjs", "BASE_URL="+s.url, "TOKEN="+s.guestToken(), "SERVICE_TOKEN="+serviceToken,
				"USER_REF=user:development/guest", `OWNERSHIP=["user:development/guest","group:default/team-a"]`, "OMIT="+strconv.FormatBool(omit))
			require.Equal(t, []string{"openid-configuration", "jose jwtVerify", "UserTokenHandler", "userinfo", "DefaultUserInfoService", "DefaultIdentityClient"}, checked)
		})
	}
}
