package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/console/consoletest"
	"github.com/stagebus/stagebus/logging"
)

// consoleUsers are the people of the OpenID test's catalog.
const consoleUsers = `apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: jane
spec:
  profile: {email: jane.doe@example.com}
  memberOf: [team-a]
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: bob
spec:
  profile: {email: bob@example.com}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
`

// TestConsoleOIDC signs in to the console in production through an OpenID provider (an
// in-process issuer): the sign-in page offers it and no guest, the person comes back to the
// page asked for, an admin sees the admin pages, someone else neither sees nor opens them,
// and signing out ends the session.
func TestConsoleOIDC(t *testing.T) {
	t.Parallel()
	idp, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = idp.Shutdown() })
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	require.NoError(t, os.WriteFile(users, []byte(consoleUsers), 0o600))
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := idp.Config()
	tree, err := config.Load([]string{writeConfig(t, fmt.Sprintf(`backend:
  baseUrl: %s
  listen: {host: 127.0.0.1, port: %d}
  database: {connection: %s}
events:
  bus: sql
auth:
  environment: production
  admins: [user:default/jane]
  providers:
    oidc:
      production:
        metadataUrl: %s/.well-known/openid-configuration
        clientId: %s
        clientSecret: %s
        signIn:
          resolvers:
            - resolver: emailMatchingUserEntityProfileEmail
catalog:
  locations:
    - {type: file, target: %s}
`, url, port, filepath.Join(dir, "stagebus.db"), idp.Issuer(), cfg.ClientID, cfg.ClientSecret, users))}, nil)
	require.NoError(t, err)
	app := fxtest.New(t, app(tree, logging.Options{Out: io.Discard}), roots)
	app.RequireStart()
	t.Cleanup(app.RequireStop)

	// The browser reports the refused page's status as an error.
	ctx := consoletest.Tab(t, consoletest.TabOptions{AcceptLanguage: "en-US", AllowErrors: []string{"status of 403 (Forbidden) (" + url + "/events"}})
	consoletest.Navigate(t, ctx, url+"/events?topic=auth.audit")
	consoletest.WaitText(t, ctx, "#signin-oidc", "Sign in with OpenID Connect")
	require.Zero(t, consoletest.Eval[int](t, ctx, `document.querySelectorAll("#signin-guest").length`), "no guest in production")
	consoletest.Screenshot(t, ctx, "signin-oidc-en")
	idp.QueueUser(&mockoidc.MockUser{Subject: "jane-1", Email: "jane.doe@example.com", EmailVerified: true})
	consoletest.Click(t, ctx, "#signin-oidc")
	consoletest.WaitText(t, ctx, "#who", "user:default/jane")
	require.Equal(t, url+"/events?topic=auth.audit", consoletest.Location(t, ctx), "back on the page asked for")
	consoletest.WaitText(t, ctx, "#events-body", "user:default/jane")
	consoletest.Click(t, ctx, "#signout")
	consoletest.WaitText(t, ctx, "h1", "Sign in to Stagebus")
	consoletest.Navigate(t, ctx, url+"/events")
	consoletest.WaitText(t, ctx, "h1", "Sign in to Stagebus")

	// Bob may sign in, but is no admin: the admin page he asked for is refused, and the
	// navigation does not offer it.
	idp.QueueUser(&mockoidc.MockUser{Subject: "bob-1", Email: "bob@example.com", EmailVerified: true})
	consoletest.Click(t, ctx, "#signin-oidc")
	consoletest.WaitText(t, ctx, "main h1", "Error 403")
	consoletest.Navigate(t, ctx, url+"/")
	consoletest.WaitText(t, ctx, "#who", "user:default/bob")
	require.Zero(t, consoletest.Eval[int](t, ctx, `document.querySelectorAll('nav a[href="/events"]').length`), "the admin pages are hidden")
	require.Positive(t, consoletest.Eval[int](t, ctx, `document.querySelectorAll('nav a[href="/"]').length`))
}
