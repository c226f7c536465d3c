// Runs every public method of @backstage/catalog-client against a running Stagebus and fails
// on the first answer that differs from Backstage 1.24's (or from a difference README.md's
// "Differences from Backstage" documents). Environment:
//   CLIENT      the package to import: catalog-client-1.6.1 or @backstage/catalog-client
//   BASE_URL    Stagebus, e.g. http://127.0.0.1:7007
//   TOKEN       a user token
//   GITHUB      the fake GitHub behind integrations.github; PUT $GITHUB/_test/files/<owner>/<repo>/<path>
//               changes a file on branch main
//   HOST        the host of integrations.github (github.example)
// The fake GitHub holds acme/artist-web (a catalog-info.yaml with the Component artist-web and
// the Group team-a), acme/second (the Component second) and acme/empty (no catalog file).
// The last line printed is {"ok": true, "checked": [<methods>]}.
import assert from 'node:assert/strict';

const { CLIENT, BASE_URL, TOKEN, GITHUB, HOST } = process.env;
const { CatalogClient } = await import(CLIENT);
const client = new CatalogClient({ discoveryApi: { getBaseUrl: async () => `${BASE_URL}/api/catalog` } });
const auth = { token: TOKEN };
const latest = typeof client.streamEntities === 'function';
const checked = [];
const check = name => checked.push(name);
const names = items => items.map(e => e?.metadata.name);
const file = repo => `https://${HOST}/acme/${repo}/blob/main/catalog-info.yaml`;
const TARGET = file('artist-web');

// addLocation: a dry run, then the registration, then the conflict.
const dry = await client.addLocation({ type: 'url', target: TARGET, dryRun: true }, auth);
assert.equal(dry.exists, false);
assert.equal(dry.location.id, `url:${TARGET}`);
assert.equal(dry.entities[0].kind, 'Location', 'the Location entity comes first');
assert.equal(dry.entities[0].spec.target, TARGET);
assert.deepEqual(names(dry.entities.slice(1)).sort(), ['artist-web', 'team-a']);
assert.ok(dry.entities.every(e => e.metadata.uid === undefined), 'a dry run stores nothing');
const added = await client.addLocation({ type: 'url', target: TARGET }, auth);
assert.equal(added.location.type, 'url');
assert.equal(added.location.target, TARGET);
assert.match(added.location.id, /^[0-9a-f-]{36}$/);
// Difference (documented): Backstage reads the location later and answers entities: [].
assert.deepEqual(added.entities.map(e => e.kind).sort(), ['Component', 'Group', 'Location']);
assert.equal((await client.addLocation({ type: 'url', target: TARGET, dryRun: true }, auth)).exists, true);
// 1.6.1 throws the body's text, later versions a ResponseError with the status.
await assert.rejects(client.addLocation({ type: 'url', target: TARGET }, auth), e => e.statusCode === 409 || /already exists/.test(e.message));
check('addLocation');

// getEntities: filters, fields, order, offset and limit, and the after cursor of a Link header.
const components = await client.getEntities({ filter: { kind: 'Component' } }, auth);
assert.deepEqual(names(components.items), ['artist-web']);
const web = components.items[0];
assert.equal(web.metadata.namespace, 'default');
assert.equal(web.metadata.annotations['backstage.io/managed-by-location'], `url:${TARGET}`);
assert.equal(web.metadata.annotations['backstage.io/managed-by-origin-location'], `url:${TARGET}`);
assert.ok(web.relations.some(r => r.type === 'ownedBy' && r.targetRef === 'group:default/team-a'));
const projected = await client.getEntities({ filter: [{ kind: 'Group' }, { kind: 'Component' }], fields: ['kind', 'metadata.name', 'metadata.namespace'] }, auth);
assert.deepEqual(projected.items, [
  { kind: 'Component', metadata: { name: 'artist-web', namespace: 'default' } },
  { kind: 'Group', metadata: { name: 'team-a', namespace: 'default' } },
]);
const ordered = await client.getEntities({ filter: { kind: ['component', 'group', 'location'] }, order: { field: 'metadata.name', order: 'desc' }, offset: 1, limit: 2, fields: ['metadata.name'] }, auth);
assert.deepEqual(names(ordered.items).sort(), [dry.entities[0].metadata.name, 'artist-web'].sort());
const firstPage = await fetch(`${BASE_URL}/api/catalog/entities?filter=kind%3Dcomponent&filter=kind%3Dgroup&limit=1`, { headers: { authorization: `Bearer ${TOKEN}` } });
const link = firstPage.headers.get('link');
assert.match(link, /^<\/api\/catalog\/entities\?.*after=.*>; rel="next"$/);
const after = new URL(link.slice(1, link.indexOf('>')), BASE_URL).searchParams.get('after');
const nextPage = await client.getEntities({ filter: [{ kind: 'component' }, { kind: 'group' }], after }, auth);
assert.deepEqual(names(nextPage.items), ['team-a']);
check('getEntities');

// getEntityByRef and getEntityByName: found, and undefined on 404.
const byRef = await client.getEntityByRef('component:default/artist-web', auth);
assert.equal(byRef.metadata.uid, web.metadata.uid);
assert.equal((await client.getEntityByRef({ kind: 'Component', namespace: 'default', name: 'artist-web' }, auth)).metadata.uid, web.metadata.uid);
assert.equal(await client.getEntityByRef('component:default/nope', auth), undefined);
check('getEntityByRef');
assert.equal((await client.getEntityByName({ kind: 'Component', namespace: 'default', name: 'artist-web' }, auth)).metadata.uid, web.metadata.uid);
assert.equal(await client.getEntityByName({ kind: 'Component', namespace: 'default', name: 'nope' }, auth), undefined);
check('getEntityByName');

// getEntitiesByRefs: request order, undefined for unknown refs and filtered-out entities.
const byRefs = await client.getEntitiesByRefs({ entityRefs: ['group:default/team-a', 'component:default/missing', 'component:default/artist-web'], fields: ['metadata.name'] }, auth);
assert.deepEqual(names(byRefs.items), ['team-a', undefined, 'artist-web']);
const filtered = await client.getEntitiesByRefs({ entityRefs: ['group:default/team-a', 'component:default/artist-web'], filter: { kind: 'group' } }, auth);
assert.deepEqual(names(filtered.items), ['team-a', undefined]);
if (latest) {
  const byPredicate = await client.getEntitiesByRefs({ entityRefs: ['group:default/team-a', 'component:default/artist-web'], query: { kind: 'component' } }, auth);
  assert.deepEqual(names(byPredicate.items), [undefined, 'artist-web']);
}
check('getEntitiesByRefs');

// queryEntities: cursor paging both ways, full-text search, and (latest) predicates.
const q1 = await client.queryEntities({ filter: { kind: ['Component', 'Group'] }, limit: 1, orderFields: { field: 'metadata.name', order: 'asc' } }, auth);
assert.equal(q1.totalItems, 2);
assert.deepEqual(names(q1.items), ['artist-web']);
assert.equal(q1.pageInfo.prevCursor, undefined);
const q2 = await client.queryEntities({ cursor: q1.pageInfo.nextCursor, limit: 1 }, auth);
assert.deepEqual(names(q2.items), ['team-a']);
assert.equal(q2.totalItems, 2);
assert.equal(q2.pageInfo.nextCursor, undefined);
const q0 = await client.queryEntities({ cursor: q2.pageInfo.prevCursor, limit: 1 }, auth);
assert.deepEqual(names(q0.items), ['artist-web']);
const text = await client.queryEntities({ fullTextFilter: { term: 'ARTIST', fields: ['metadata.name'] } }, auth);
assert.deepEqual(names(text.items), ['artist-web']);
if (latest) {
  const p1 = await client.queryEntities({ query: { kind: { $in: ['component', 'group'] } }, limit: 1, orderFields: { field: 'metadata.name', order: 'desc' } }, auth);
  assert.deepEqual(names(p1.items), ['team-a']);
  const p2 = await client.queryEntities({ cursor: p1.pageInfo.nextCursor, limit: 1 }, auth);
  assert.deepEqual(names(p2.items), ['artist-web']);
  const excluded = await client.queryEntities({ filter: { kind: 'group' }, totalItems: 'exclude' }, auth);
  assert.deepEqual(names(excluded.items), ['team-a']);
  check('queryEntitiesByPredicate');
}
check('queryEntities');

if (latest) {
  const streamed = [];
  for await (const page of client.streamEntities({ filter: { kind: ['component', 'group', 'location'] }, pageSize: 1 }, auth)) {
    streamed.push(...names(page));
  }
  assert.deepEqual(streamed.sort(), [dry.entities[0].metadata.name, 'artist-web', 'team-a'].sort());
  check('streamEntities');
}

// getEntityAncestors: the entity, then its Location entity.
const ancestors = await client.getEntityAncestors({ entityRef: 'component:default/artist-web' }, auth);
assert.equal(ancestors.rootEntityRef, 'component:default/artist-web');
assert.equal(ancestors.items.length, 2);
assert.deepEqual(ancestors.items[0].parentEntityRefs, [`location:default/${dry.entities[0].metadata.name}`]);
assert.equal(ancestors.items[1].entity.kind, 'Location');
assert.deepEqual(ancestors.items[1].parentEntityRefs, []);
check('getEntityAncestors');

// getEntityFacets: by filter, and (latest) by predicate.
const facets = await client.getEntityFacets({ facets: ['kind'], filter: { 'metadata.namespace': 'default' } }, auth);
assert.deepEqual(facets.facets.kind.map(f => `${f.value}=${f.count}`).sort(), ['Component=1', 'Group=1', 'Location=1']);
if (latest) {
  const byPredicate = await client.getEntityFacets({ facets: ['spec.type'], query: { kind: 'component' } }, auth);
  assert.deepEqual(byPredicate.facets['spec.type'], [{ value: 'website', count: 1 }]);
  check('getEntityFacetsByPredicate');
}
check('getEntityFacets');

// refreshEntity: a changed file is read now.
const put = await fetch(`${GITHUB}/_test/files/acme/artist-web/catalog-info.yaml`, {
  method: 'PUT',
  body: (await (await fetch(`${GITHUB}/repos/acme/artist-web/contents/catalog-info.yaml?ref=main`)).text()).replace('lifecycle: production', 'lifecycle: deprecated'),
});
assert.equal(put.status, 204);
await client.refreshEntity('component:default/artist-web', auth);
assert.equal((await client.getEntityByRef('component:default/artist-web', auth)).spec.lifecycle, 'deprecated');
await assert.rejects(client.refreshEntity('component:default/nope', auth));
check('refreshEntity');

// Locations: by id, by ref, by entity; config locations are not listed.
const loc = added.location;
assert.deepEqual(await client.getLocationById(loc.id, auth), { ...loc, entityRef: `location:default/${dry.entities[0].metadata.name}` });
assert.equal(await client.getLocationById('no-such-id', auth), undefined);
check('getLocationById');
assert.equal((await client.getLocationByRef(`url:${TARGET}`, auth)).id, loc.id);
assert.equal(await client.getLocationByRef('url:https://elsewhere.example/x.yaml', auth), undefined);
check('getLocationByRef');
assert.equal((await client.getLocationByEntity('component:default/artist-web', auth)).id, loc.id);
assert.equal(await client.getLocationByEntity('component:default/nope', auth), undefined);
check('getLocationByEntity');

// validateEntity: valid, and Backstage's errors for an invalid one.
const entity = { apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'fine' }, spec: { type: 'service', owner: 'team-a', lifecycle: 'production' } };
assert.deepEqual(await client.validateEntity(entity, `url:${TARGET}`, auth), { valid: true });
const invalid = await client.validateEntity({ ...entity, metadata: { name: 'Not Fine!' } }, `url:${TARGET}`, auth);
assert.equal(invalid.valid, false);
assert.equal(invalid.errors.length, 1);
assert.equal(invalid.errors[0].name, 'InputError');
assert.match(invalid.errors[0].message, /metadata\.name "Not Fine!" is not valid/);
check('validateEntity');

if (latest) {
  const listed = await client.getLocations({}, auth);
  assert.deepEqual(listed.items.map(l => l.id), [loc.id]);
  check('getLocations');
  const queried = await client.queryLocations({ limit: 1, query: { type: 'url' } }, auth);
  assert.equal(queried.totalItems, 1);
  assert.deepEqual(queried.items.map(l => l.target), [TARGET]);
  check('queryLocations');
  const streamedLocations = [];
  for await (const page of client.streamLocations({}, auth)) {
    streamedLocations.push(...page);
  }
  assert.deepEqual(streamedLocations.map(l => l.id), [loc.id]);
  check('streamLocations');

  const analyzed = await client.analyzeLocation({ location: { type: 'url', target: `https://${HOST}/acme/artist-web` } }, auth);
  assert.deepEqual(analyzed.generateEntities, []);
  assert.deepEqual(analyzed.existingEntityFiles.map(f => `${f.entity.kind}:${f.isRegistered}:${f.location.target}`).sort(), [
    `Component:true:${TARGET}`, `Group:true:${TARGET}`, `Location:true:${TARGET}`]);
  const generated = await client.analyzeLocation({ location: { type: 'url', target: `https://${HOST}/acme/empty` } }, auth);
  assert.deepEqual(generated.existingEntityFiles, []);
  assert.deepEqual(generated.generateEntities, [{
    entity: { apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'empty', annotations: { 'github.com/project-slug': 'acme/empty' } }, spec: { type: 'other', lifecycle: 'unknown' } },
    fields: [],
  }]);
  check('analyzeLocation');

  const moved = await client.updateLocation(loc.id, { type: 'url', target: file('second') }, auth);
  assert.deepEqual(moved, { id: loc.id, type: 'url', target: file('second'), entityRef: `location:default/${dry.entities[0].metadata.name}` });
  assert.equal(await client.getEntityByRef('component:default/artist-web', auth), undefined);
  assert.ok(await client.getEntityByRef('component:default/second', auth));
  check('updateLocation');
}

// removeEntityByUid: removed, and an unknown uid is no error (204, as in Backstage).
const victim = latest ? 'component:default/second' : 'component:default/artist-web';
await client.removeEntityByUid((await client.getEntityByRef(victim, auth)).metadata.uid, auth);
assert.equal(await client.getEntityByRef(victim, auth), undefined);
await client.removeEntityByUid('no-such-uid', auth);
check('removeEntityByUid');

// removeLocationById: its entities go with it.
await client.removeLocationById(loc.id, auth);
assert.equal(await client.getLocationById(loc.id, auth), undefined);
assert.equal(await client.getEntityByRef('group:default/team-a', auth), undefined);
await assert.rejects(client.removeLocationById(loc.id, auth));
check('removeLocationById');

console.log(JSON.stringify({ ok: true, checked }));
