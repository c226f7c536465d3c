package oidc

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// TestOnlyVerifiedEmailsSignIn: an email the issuer does not say it verified is shown, but not
// matched to a user: anyone may set any address at some issuers (Entra ID sends no
// email_verified).
func TestOnlyVerifiedEmailsSignIn(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	for _, tc := range []struct {
		verified *bool
		want     string
	}{{&yes, "a@example.com"}, {nil, ""}, {&no, ""}} {
		res := result(&oauth2.Token{}, idClaims{Email: "a@example.com", EmailVerified: tc.verified})
		require.Equal(t, tc.want, res.Identity.Email)
		require.Equal(t, "a@example.com", res.Profile.Email)
	}
}
