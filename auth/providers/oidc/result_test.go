package oidc

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// TestOnlyVerifiedEmailsSignIn: an email the issuer says it has not verified is shown, but
// not matched to a user (anyone may claim any address at some issuers); an issuer that says
// nothing (Entra ID) is trusted.
func TestOnlyVerifiedEmailsSignIn(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	for _, tc := range []struct {
		verified *bool
		want     string
	}{{&yes, "a@example.com"}, {nil, "a@example.com"}, {&no, ""}} {
		res := result(&oauth2.Token{}, idClaims{Email: "a@example.com", EmailVerified: tc.verified})
		require.Equal(t, tc.want, res.Identity.Email)
		require.Equal(t, "a@example.com", res.Profile.Email)
	}
}
