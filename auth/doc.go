// Package auth is Stagebus's security by default: ES256 keys that rotate, Backstage-shaped
// user and service tokens, external access, the credentials check every protected route
// goes through, the guest provider for local development, and an audit record on the bus
// for every token issued and every request refused.
//
// # Keys
//
// Each instance generates its ES256 private key in memory (it is never written anywhere)
// and replaces it every auth.keyRotation (default 1h). Before signing with a key, the
// instance stores its public half in the database with an expiry of 3 × the rotation
// (longer when auth.backstageTokenExpiration would let a token outlive that), so that every
// instance sharing the database verifies every other's tokens; expired keys are purged.
// Verifiers cache public keys and look an unknown kid up in the database. Each stored key
// records the auth.environment of the instance that made it, and verifies tokens only on
// instances of that environment: a development instance sharing production's database
// cannot mint tokens production accepts (401, reason audited), and the JWKS route serves
// only its own environment's keys. Rotation and the purge run on a goroutine started by
// [Service.Start] and ended by [Service.Stop]; the clock is injectable ([Options].Clock).
//
// # Tokens
//
//   - User tokens: header {typ: vnd.backstage.user, alg: ES256, kid}, claims iss
//     (backend.baseUrl + /api/auth), sub (a user entity ref), ent (the refs it owns through,
//     left out when auth.omitIdentityTokenOwnershipClaim is true; GET /api/auth/v1/userinfo
//     serves them either way), aud: backstage, iat, exp (auth.backstageTokenExpiration,
//     default 1h, clamped to 10m–24h), and uip: the signature of the user's limited token.
//   - Limited user tokens, which Backstage's clients rebuild from a user token without the
//     key: header {typ: vnd.backstage.limited-user, alg, kid}, claims {sub, iat, exp} (the
//     user token's), signature uip. They are accepted only on routes whose policy is
//     httpserver.UserCookie (userinfo); elsewhere they are refused with 401.
//   - Service tokens ([Service.IssueServiceToken]): header typ vnd.backstage.plugin, claims
//     sub (the calling module), aud (the target module: the segment after /api/ of the
//     routes it serves, see [ModuleOf]), iat, exp (1h). Their principal is
//     service "plugin:<sub>".
//   - External access (backend.auth.externalAccess): static tokens (at least 22 characters
//     of which at least 8 different, no whitespace; a weaker one fails start-up in
//     production and is warned about in development; principal service <subject>) and
//     JWKS issuers (principal service "external:[<subjectPrefix>:]<sub>"), each optionally
//     restricted to route prefixes ([AccessRestriction]). An entry without
//     accessRestrictions has full access. Issuers' JWKS are fetched with keyfunc/jwkset in
//     the background from [Service.Start] on, every 10 minutes, and for an unknown kid at
//     most once per 30s, always on the service's own context (ended by [Service.Stop]).
//
// Verification refuses tokens over 32 KiB, pins ES256 for Stagebus's tokens (and the
// configured or declared algorithm of a JWKS issuer; never none or HMAC), and checks typ,
// aud, iss, exp, nbf and iat with 30s of leeway.
//
// # Requests
//
// [Service.Authenticate] implements httpserver.Authenticator: the token comes from
// "Authorization: Bearer" or the backstage-auth session cookie (SameSite=Lax). A missing or
// invalid token is 401; a valid principal that is restricted away from the route, or that is
// not an admin on an httpserver.RequireAdmin route, is 403, and so is a state-changing request
// with the cookie that a browser says comes from another site (Sec-Fetch-Site, else Origin:
// net/http's CrossOriginProtection), which is how a cross-site form would use it. Admins are the users in
// auth.admins and service principals that may call the route.
//
// # Audit
//
// Records in Backstage's AuditorService shape ([AuditRecord]) are published on topic
// auth.audit ([AuditTopic]) for every token issued, every 401 (with the reason, route,
// method, remote address and user agent; never the token), every 403, and each external
// principal's first use per hour. When the application has a durable audit log (the
// eventsvc.Publisher named "auditLog", which subscribers/audit provides), each record is
// handed to it and the request is answered once the record is committed; the log publishes
// it on the bus after the commit and aggregates denials under a flood rather than dropping
// them. Without one, records are published on the bus from a bounded queue. A failure is
// logged and never fails the request.
package auth
