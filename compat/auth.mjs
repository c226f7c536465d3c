// Verifies Stagebus's user tokens the way Backstage's backends do, with Backstage's own code,
// and fails on the first difference. Environment:
//   BASE_URL       Stagebus, e.g. http://127.0.0.1:7007 (its backend.baseUrl)
//   TOKEN          a user token of USER, who owns OWNERSHIP (a JSON array)
//   SERVICE_TOKEN  a token of a service principal
//   OMIT           "true" when auth.omitIdentityTokenOwnershipClaim is true (no ent claim)
// The last line printed is {"ok": true, "checked": [<what was checked>]}.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { DefaultIdentityClient } from '@backstage/plugin-auth-node';

const { BASE_URL, TOKEN, SERVICE_TOKEN } = process.env;
const USER = process.env.USER_REF;
const OWNERSHIP = JSON.parse(process.env.OWNERSHIP);
const omit = process.env.OMIT === 'true';
const checked = [];
const check = name => checked.push(name);

// DefaultUserInfoService and UserTokenHandler are what @backstage/backend-defaults' user-info
// and auth services run; the package exports only their service factories, so they are
// loaded from its files.
const require = createRequire(import.meta.url);
const defaults = path.dirname(require.resolve('@backstage/backend-defaults/package.json'));
const { DefaultUserInfoService } = require(path.join(defaults, 'dist/entrypoints/userInfo/DefaultUserInfoService.cjs.js'));
const { UserTokenHandler } = require(path.join(defaults, 'dist/entrypoints/auth/user/UserTokenHandler.cjs.js'));
const { createCredentialsWithUserPrincipal } = require(path.join(defaults, 'dist/entrypoints/auth/helpers.cjs.js'));

const discovery = {
  getBaseUrl: async pluginId => `${BASE_URL}/api/${pluginId}`,
  getExternalBaseUrl: async pluginId => `${BASE_URL}/api/${pluginId}`,
};
const warnings = [];
const logger = {
  warn: (msg, e) => warnings.push(`${msg} ${e ?? ''}`), info() {}, debug() {}, error: (msg, e) => warnings.push(`${msg} ${e ?? ''}`),
  child() { return logger; },
};

// The issuer describes itself.
const oidc = await (await fetch(`${BASE_URL}/api/auth/.well-known/openid-configuration`)).json();
const issuer = `${BASE_URL}/api/auth`;
assert.equal(oidc.issuer, issuer);
assert.equal(oidc.jwks_uri, `${issuer}/.well-known/jwks.json`);
assert.equal(oidc.userinfo_endpoint, `${issuer}/v1/userinfo`);
assert.deepEqual(oidc.id_token_signing_alg_values_supported, ['ES256']);
assert.deepEqual(oidc.claims_supported, ['sub', 'ent']);
check('openid-configuration');

// jose, as Backstage's backends verify user tokens: the issuer's JWKS, ES256, audience
// backstage, the issuer.
const { payload, protectedHeader } = await jwtVerify(TOKEN, createRemoteJWKSet(new URL(oidc.jwks_uri)), {
  issuer, audience: 'backstage', algorithms: ['ES256'], typ: 'vnd.backstage.user', requiredClaims: ['iat', 'exp', 'sub'],
});
assert.equal(protectedHeader.typ, 'vnd.backstage.user');
assert.equal(payload.sub, USER);
assert.equal(typeof payload.uip, 'string');
if (omit) {
  assert.equal(payload.ent, undefined, 'auth.omitIdentityTokenOwnershipClaim: true leaves ent out');
} else {
  assert.deepEqual(payload.ent, OWNERSHIP);
}
check('jose jwtVerify');

// UserTokenHandler: the user token, and the limited token it rebuilds from uip.
const handler = UserTokenHandler.create({ discovery, logger });
assert.deepEqual(await handler.verifyToken(TOKEN), { userEntityRef: USER });
const limited = handler.createLimitedUserToken(TOKEN);
assert.ok(handler.isLimitedUserToken(limited.token));
assert.equal(decodeProtectedHeader(limited.token).typ, 'vnd.backstage.limited-user');
assert.deepEqual(decodeJwt(limited.token), { sub: USER, iat: payload.iat, exp: payload.exp });
assert.equal(limited.expiresAt.getTime(), payload.exp * 1000);
assert.deepEqual(await handler.verifyToken(limited.token), { userEntityRef: USER });
const other = handler.createLimitedUserToken(TOKEN).token.split('.');
const tampered = [other[0], Buffer.from(JSON.stringify({ sub: 'user:default/mallory', iat: payload.iat, exp: payload.exp })).toString('base64url'), other[2]].join('.');
await assert.rejects(handler.verifyToken(tampered), /Failed user token verification/);
assert.deepEqual(warnings.map(w => w.split(' ')[0]), ['Failed'], 'only the tampered token failed');
check('UserTokenHandler');

// GET /api/auth/v1/userinfo: Backstage's shape, for full and limited tokens; 400 for others.
const userinfo = async token => fetch(`${BASE_URL}/api/auth/v1/userinfo`, { headers: { authorization: `Bearer ${token}` } });
for (const token of [TOKEN, limited.token]) {
  const res = await userinfo(token);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { claims: { sub: USER, ent: OWNERSHIP } });
}
const refused = await userinfo(SERVICE_TOKEN);
assert.equal(refused.status, 400);
assert.equal((await refused.json()).error.name, 'InputError');
const limitedElsewhere = await fetch(`${BASE_URL}/api/catalog/entities`, { headers: { authorization: `Bearer ${limited.token}` } });
assert.equal(limitedElsewhere.status, 401, 'a limited token opens only the routes that allow it');
check('userinfo');

// DefaultUserInfoService: ownership from the token, or from userinfo when the token has none
// (always so for the limited token of a browser session).
const userInfo = new DefaultUserInfoService({ discovery });
for (const token of [TOKEN, limited.token]) {
  assert.deepEqual(await userInfo.getUserInfo(createCredentialsWithUserPrincipal(USER, token)), { userEntityRef: USER, ownershipEntityRefs: OWNERSHIP });
}
check('DefaultUserInfoService');

// DefaultIdentityClient (plugin-auth-node), as 1.24-era plugins authenticate requests: it
// reads ownership from the ent claim only.
const identity = DefaultIdentityClient.create({ discovery, issuer });
const id = await identity.getIdentity({ request: { headers: { authorization: `Bearer ${TOKEN}` } } });
assert.deepEqual(id.identity, { type: 'user', userEntityRef: USER, ownershipEntityRefs: omit ? [] : OWNERSHIP });
await assert.rejects(identity.getIdentity({ request: { headers: { authorization: `Bearer ${limited.token}` } } }));
check('DefaultIdentityClient');

console.log(JSON.stringify({ ok: true, checked }));
