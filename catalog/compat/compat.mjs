// Runs @backstage/catalog-client against a running Stagebus catalog and fails on the first
// difference. Environment: BASE_URL (e.g. http://127.0.0.1:7007), TOKEN (a bearer token),
// TARGET (a url location holding the Component artist-web and the Group team-a).
import assert from 'node:assert/strict';
import { CatalogClient } from '@backstage/catalog-client';

const { BASE_URL, TOKEN, TARGET } = process.env;
const client = new CatalogClient({
  discoveryApi: { getBaseUrl: async () => `${BASE_URL}/api/catalog` },
});
const auth = { token: TOKEN };
const done = [];

const added = await client.addLocation({ type: 'url', target: TARGET }, auth);
assert.equal(added.location.target, TARGET);
assert.deepEqual(added.entities.map(e => e.metadata.name).sort(), ['artist-web', 'team-a']);
done.push('addLocation');

const all = await client.getEntities({ filter: { kind: 'Component' } }, auth);
assert.deepEqual(all.items.map(e => e.metadata.name), ['artist-web']);
const some = await client.getEntities({ filter: [{ kind: 'Group' }, { kind: 'Component' }], fields: ['kind', 'metadata.name'] }, auth);
assert.deepEqual(some.items.map(e => `${e.kind}:${e.metadata.name}`), ['Component:artist-web', 'Group:team-a']);
done.push('getEntities');

const web = await client.getEntityByRef('component:default/artist-web', auth);
assert.ok(web, 'artist-web is found by ref');
assert.ok(web.metadata.uid);
assert.ok(web.relations.some(r => r.type === 'ownedBy' && r.targetRef === 'group:default/team-a'));
assert.equal(await client.getEntityByRef('component:default/nope', auth), undefined);
done.push('getEntityByRef');

const first = await client.queryEntities({ filter: { kind: ['Component', 'Group'] }, limit: 1, orderFields: { field: 'metadata.name', order: 'asc' } }, auth);
assert.equal(first.totalItems, 2);
assert.deepEqual(first.items.map(e => e.metadata.name), ['artist-web']);
assert.ok(first.pageInfo.nextCursor, 'a next page');
const second = await client.queryEntities({ cursor: first.pageInfo.nextCursor, limit: 1 }, auth);
assert.deepEqual(second.items.map(e => e.metadata.name), ['team-a']);
assert.equal(second.pageInfo.nextCursor, undefined);
done.push('queryEntities');

const byRefs = await client.getEntitiesByRefs({ entityRefs: ['group:default/team-a', 'component:default/missing', 'component:default/artist-web'] }, auth);
assert.deepEqual(byRefs.items.map(e => e?.metadata.name), ['team-a', undefined, 'artist-web']);
done.push('getEntitiesByRefs');

await client.removeEntityByUid(web.metadata.uid, auth);
assert.equal(await client.getEntityByRef('component:default/artist-web', auth), undefined);
done.push('removeEntityByUid');

console.log(JSON.stringify({ ok: true, methods: done }));
