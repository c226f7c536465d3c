// Package discovery is GitHub's catalog module (Backstage's catalog-backend-module-github): an
// entity provider per catalog.providers.github.<id> entry, which discovers the catalog files of
// an organization's repositories through the REST API on a schedule and applies the github.push
// and github.repository events (routed by the providers/github events module) in between; and
// a catalog URL reader for the hosts of integrations.github.
//
// Each provider owns the entities it provides ("github-provider:<id>"): a push that adds,
// changes or removes the catalog file is applied at once; repository archives, deletions,
// renames and transfers remove or move the entities; a full sync reconciles everything. Syncs
// run on a background loop that Stop cancels.
package discovery
