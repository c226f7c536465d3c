// Package compat holds the compatibility suite: Backstage's own npm packages, run by Node.js
// against a running Stagebus, fail on the first response that differs from what they get from
// Backstage 1.24. Its tests (go test ./compat/, part of make test) install the locked npm
// dependencies of package-lock.json once into a cache outside the repository, start Stagebus
// on a real port with a fake GitHub behind integrations.github, and run:
//
//   - catalog.mjs: every public method of @backstage/catalog-client, in version 1.6.1 (the
//     version of Backstage 1.24) and in the latest version the lock file pins;
//   - auth.mjs: user tokens verified with jose as Backstage's backends verify them, and
//     @backstage/backend-defaults' DefaultUserInfoService and UserTokenHandler and
//     @backstage/plugin-auth-node's DefaultIdentityClient against Stagebus's tokens.
//
// Where Stagebus answers differently on purpose, README.md's "Differences from Backstage"
// says so; the scripts assert the documented behaviour.
package compat
