// Package catalog is Stagebus's software catalog: Backstage's entity model and validation
// (with an extension point to replace field validators and the entity data parser), a store
// on the shared database, locations, and the catalog HTTP API that @backstage/catalog-client
// speaks.
//
// Entity providers own the entities they provide: [Store.ApplyMutation] with a full mutation
// replaces everything a provider owns, a delta adds and removes. An entity ref claimed by two
// providers stays with the first and the second gets a [Conflict]. Every upsert and delete is
// published on the bus as catalog.entity.upserted / catalog.entity.deleted (key: the entity
// ref), the change stream Backstage does not have.
//
// Relations are derived from spec (owner, system, domain, subcomponentOf, dependsOn,
// providesApis, consumesApis, memberOf, parent, children, members) and shown on both ends,
// the inverse computed when read.
package catalog
