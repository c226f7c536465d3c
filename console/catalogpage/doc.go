// Package catalogpage adds the Catalog pages to the operator console, for everyone signed in:
// the entities filtered by kind, owner and text, and an entity's page with its metadata, spec,
// where it comes from and its relations, as a list and as a graph drawn on the server. An
// entity's page says when the entity changes while it is open.
//
// Everything is read in-process from the catalog's Store. The list (GET /catalog) filters by
// kind and spec.owner (the selects are the catalog's facets) and by text in names, titles and
// descriptions, 50 entities a page, paged by keyset (after or before an entity's ref) so that
// entities added or removed meanwhile do not shift the pages. An entity's page
// (GET /catalog/<namespace>/<kind>/<name>, the shape of Backstage's frontend, looked up
// case-insensitively) shows the entity's relations as a list, the accessible source of truth,
// and as an SVG graph: on the right the entities its spec names, on the left those whose specs
// name it, at most 30 a side.
//
// Live channels: "entity:<ref>" shows a banner on an entity's page when an event of the
// catalog's change stream (catalog.entity.*) is keyed by the entity's ref; "catalog" shows one
// on the list for any change.
package catalogpage
