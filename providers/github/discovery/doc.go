// Package discovery is GitHub's catalog module (Backstage's catalog-backend-module-github and
// catalog-backend-module-github-org): an entity provider per catalog.providers.github.<id>
// entry, which discovers the catalog files of an organization's repositories through the REST
// API on a schedule and applies the github.push and github.repository events (routed by the
// providers/github events module) in between; an organization provider per
// catalog.providers.githubOrg.<id> entry, which imports organizations' members and teams as
// User and Group entities the same way; and a catalog URL reader for the hosts of
// integrations.github.
//
// Each provider owns the entities it provides ("github-provider:<id>"): a push that adds,
// changes or removes the catalog file is applied at once; repository archives, deletions,
// renames and transfers remove or move the entities; a full sync reconciles everything. Syncs
// run on a background loop that Stop cancels.
//
// # Organization provider
//
// catalog.providers.githubOrg.<id> takes githubUrl (default https://github.com; its host
// selects the integrations.github entry, which must exist), orgs (the organizations, at least
// one) and schedule.frequency (default 30m, at least 1m). The provider, "github-org-provider:<id>"
// (also the location key of its entities, which therefore carry no managed-by-location
// annotations, as in Backstage, and the id of its subscription), reads each organization
// through the REST API: GET /orgs/{org}/members and /users/{login} for the members,
// /orgs/{org}/teams and /orgs/{org}/teams/{slug}/members for the teams. It provides, in the
// default namespace:
//
//   - a User per member, named by login: annotation github.com/user-login, spec.profile
//     (displayName: the name, email: the public email, picture: the avatar URL, each when set)
//     and spec.memberOf, the slugs of the teams GitHub lists the user in. GitHub counts the
//     members of a child team as members of its parent, so memberOf names both;
//   - a Group per team, named by slug: annotation github.com/team-slug (<org>/<slug>),
//     metadata.description when set, spec.type team, spec.profile.displayName (the team's
//     name), spec.parent (the parent team's slug) when it has one, and spec.children [].
//
// The catalog derives memberOf/hasMember and childOf/parentOf from these fields. Groups are
// named by slug alone: when two of the organizations have a team with the same slug, the first
// organization listed keeps it and the other's is skipped, with a warning.
//
// The full sync (a full mutation) runs at start-up and on the schedule; when GitHub cannot be
// read, nothing is applied and it is tried again sooner. In between, the events of the
// configured organizations (payload organization.login; others are ignored) are applied as
// deltas:
//
//   - github.organization member_added reads the user and their teams again and adds the
//     User; member_removed removes it (or, for a member of another of the orgs, only takes
//     this organization's teams out of its memberOf);
//   - github.team created adds the Group from the payload; deleted removes it, with its child
//     teams' Groups (GitHub deletes those with their parent), and takes them out of memberOf;
//     edited reads the organization's teams again and updates the Group and its children's —
//     a renamed team's old Group is removed and its members' memberOf follow;
//     added_to_repository and removed_from_repository are ignored;
//   - github.membership added or removed reads the member's teams again and updates the User
//     the provider has (it does not add one: member_added or the next full sync does).
//
// A handler that cannot read GitHub or write the catalog returns the error, so the bus tries
// the event again. Reading a member's teams costs one request per team of the organization.
package discovery
