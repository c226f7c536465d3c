// Package signin lets people sign in through the providers of auth.providers, with
// Backstage's routes and cookies, so that a Backstage frontend's sign-in flow and Stagebus's
// own pages work the same way:
//
//   - GET /api/auth/{provider}/start?env=&origin=&flow=popup|redirect&redirectUrl= redirects
//     to the provider. A random nonce goes into state (with the other parameters) and into
//     the HttpOnly cookie {provider}-nonce, path /api/auth/{provider}/handler, for ten
//     minutes, beside the PKCE verifier of the request.
//   - GET /api/auth/{provider}/handler/frame?code=&state= is the callback: state must carry
//     the cookie's nonce (which it clears: a state is used once), the code is exchanged with
//     the verifier, the provider checks what it returns (an OpenID provider's ID token:
//     signature, issuer, audience, expiry and nonce), and a sign-in resolver finds the person
//     in the catalog. The answer is the page Backstage's frontend expects, which posts
//     {type: "authorization_response", response: {profile, providerInfo, backstageIdentity}}
//     (or {error: {name, message}}) to its opener at the origin of state, or, with
//     flow=redirect, a redirect to redirectUrl. It sets the refresh cookie
//     {provider}-refresh-token (HttpOnly, SameSite=Lax, path /api/auth/{provider}) and the
//     session cookie of Stagebus's own pages (auth.Service.SetSessionCookie).
//   - GET /api/auth/{provider}/refresh (header X-Requested-With: XMLHttpRequest, else 401)
//     signs in again with the refresh cookie: {profile, providerInfo, backstageIdentity}.
//   - POST /api/auth/{provider}/logout (the same header) clears both cookies.
//
// Sign-in resolvers (a provider's signIn.resolvers, tried in order) map the provider's
// identity to a User entity of the catalog: usernameMatchingUserEntityName,
// emailMatchingUserEntityProfileEmail and emailLocalPartMatchingUserEntityName. The user's
// ownership is its ref and the groups it is a member of. Without a matching User the sign-in
// is refused, unless the resolver sets dangerouslyAllowSignInWithoutUserInCatalog. Every
// sign-in, refusal, failed refresh and logout is an auth.audit record; a refusal answers the
// same whatever the reason, so that it does not tell whether a user exists.
//
// Providers are modules of their own (auth/providers/oidc, …) that join the group with
// AsProvider.
package signin
