// Package authtest mints real Stagebus tokens for tests: user and service tokens from an
// [auth.Service] (the one an fx test app populates, or one built by [New] on a memory store
// and a recording bus), and a helper that puts a token on a request.
//
// A test of the whole application gets an admin's token like this:
//
//	var svc *auth.Service
//	app := fxtest.New(t, …, fx.Populate(&svc)) // with auth.admins: [user:default/admin]
//	app.RequireStart()
//	token := authtest.UserToken(t, svc, "user:default/admin")
//	authtest.Authorize(req, token)
//
// Without auth.Service, a development configuration's GET /api/auth/guest/refresh answers a
// guest token, and a static backend.auth.externalAccess token (at least 22 characters) has
// full access.
package authtest
