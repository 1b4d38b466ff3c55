import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from './sqlite-store.ts';
import type { ApiKeyPosition, ApiKeyRecord, EndpointRecord, PageQuery, RuntimeRecord, RuntimeSpec, VersionRecord } from '../store.ts';

const spec = (command: string): RuntimeSpec => ({
  artifactId: 'art_1',
  command,
  transport: 'stdio',
  port: 8000,
  path: '/mcp',
  protocol: 'mcp',
  serverEra: 'auto',
  env: { A: '1' },
  idleTimeoutSeconds: 900,
  maxLifetimeSeconds: 28800,
});

test('versions are numbered from 1 and survive reopening the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'berth.db');
  const store = new SqliteStore(file);
  assert.equal(store.putVersion('counter', spec('node a.js')).version, 1);
  assert.equal(store.putVersion('counter', spec('node b.js')).version, 2);
  store.putArtifact({ id: 'art_1', bytes: 10, files: 1, createdAt: new Date().toISOString() });
  const id = store.getRuntime('counter')?.id;
  assert.match(id ?? '', /^counter-[A-Za-z0-9]{10}$/);
  store.close();

  const reopened = new SqliteStore(file);
  t.after(() => reopened.close());
  assert.equal(reopened.getRuntime('counter')?.latestVersion, 2);
  assert.equal(reopened.getRuntime('counter')?.id, id);
  assert.equal(reopened.getVersion('counter', 1)?.spec.command, 'node a.js');
  assert.deepEqual(
    reopened.listVersions('counter').map((v) => v.version),
    [1, 2],
  );
  assert.equal(reopened.getArtifact('art_1')?.bytes, 10);
  assert.equal(reopened.listRuntimes().length, 1);
  assert.ok(reopened.deleteRuntime('counter'));
  assert.equal(reopened.getRuntime('counter'), undefined);
  assert.equal(reopened.listVersions('counter').length, 0);
  assert.ok(!reopened.deleteRuntime('counter'));
});

test('the database and its WAL files are readable by berth alone', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'berth.db');
  const store = new SqliteStore(file);
  t.after(() => store.close());
  store.putVersion('secretive', spec('node a.js'));
  for (const name of readdirSync(dir)) assert.equal(statSync(join(dir, name)).mode & 0o077, 0, `${name} is owner-only`);
  assert.ok(readdirSync(dir).includes('berth.db-wal'));
});

test('endpoints pin versions, move, survive reopening, and go with their runtime; runtimes are found by id', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'berth.db');
  const store = new SqliteStore(file);
  store.putVersion('agent', spec('node a.js'));
  store.putVersion('agent', spec('node b.js'));
  const created = store.putEndpoint('agent', 'stable', 1, 'the first');
  assert.match(created.id, /^stable-[A-Za-z0-9]{10}$/);
  assert.equal(created.targetVersion, 1);
  const moved = store.putEndpoint('agent', 'stable', 2);
  assert.equal(moved.id, created.id);
  assert.equal(moved.targetVersion, 2);
  assert.equal(moved.description, 'the first', 'moving keeps the description');
  store.putEndpoint('agent', 'beta', 2);
  store.close();

  const reopened = new SqliteStore(file);
  t.after(() => reopened.close());
  assert.deepEqual(
    reopened.listEndpoints('agent').map((e) => [e.name, e.targetVersion]),
    [
      ['beta', 2],
      ['stable', 2],
    ],
  );
  const runtime = reopened.getRuntime('agent');
  assert.equal(reopened.getRuntimeById(runtime?.id ?? '')?.name, 'agent');
  assert.ok(reopened.deleteEndpoint('agent', 'beta'));
  assert.ok(!reopened.deleteEndpoint('agent', 'beta'));
  reopened.deleteRuntime('agent');
  assert.deepEqual(reopened.listEndpoints('agent'), []);
});

test('API keys: stored with their hash, revoked once, survive reopening, and go with their runtime', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'berth.db');
  const store = new SqliteStore(file);
  store.putVersion('agent', spec('node a.js'));
  const at = new Date().toISOString();
  store.putApiKey({ id: 'adminkey', hash: 'aa', scope: { kind: 'admin' }, userId: 'admin', createdAt: at });
  store.putApiKey({ id: 'alicekey', hash: 'bb', scope: { kind: 'runtime', runtime: 'agent' }, userId: 'alice', description: 'laptop', createdAt: at });
  assert.ok(store.revokeApiKey('adminkey', at));
  assert.ok(!store.revokeApiKey('adminkey', at), 'a key is revoked once');
  assert.ok(!store.revokeApiKey('nokey', at));
  store.close();

  const reopened = new SqliteStore(file);
  t.after(() => reopened.close());
  assert.deepEqual(reopened.getApiKey('alicekey'), {
    id: 'alicekey',
    hash: 'bb',
    scope: { kind: 'runtime', runtime: 'agent' },
    userId: 'alice',
    description: 'laptop',
    createdAt: at,
  });
  assert.equal(reopened.getApiKey('adminkey')?.revokedAt, at);
  assert.deepEqual(
    reopened.listApiKeys({ admin: true }).map((k) => k.id),
    ['adminkey'],
  );
  assert.deepEqual(
    reopened.listApiKeys({ runtime: 'agent' }).map((k) => k.id),
    ['alicekey'],
  );
  assert.equal(reopened.listApiKeys().length, 2);
  reopened.deleteRuntime('agent');
  assert.equal(reopened.getApiKey('alicekey'), undefined);
  assert.ok(reopened.getApiKey('adminkey'), 'admin keys belong to no runtime');
});

/** Every item of a list, walked page by page as a client would: each page after the last key of the one before. */
function walk<T, K>(fetch: (query: PageQuery<K>) => T[], keyOf: (item: T) => K, limit: number): { items: T[]; pages: number } {
  const items: T[] = [];
  let pages = 0;
  let after: K | undefined;
  for (;;) {
    const page = fetch(after === undefined ? { limit } : { limit, after });
    pages++;
    assert.ok(page.length <= limit, `a page holds at most ${limit}`);
    items.push(...page);
    if (page.length < limit) return { items, pages };
    after = keyOf(page[page.length - 1] as T);
  }
}

test('runtimes, versions and endpoints page by key, in their order, oldest or newest first', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const names = Array.from({ length: 23 }, (_, i) => `rt${String(i).padStart(2, '0')}`);
  for (const name of [...names].reverse()) store.putVersion(name, spec('node a.js'));
  for (let i = 0; i < 249; i++) store.putVersion('rt00', spec(`node v${i + 2}.js`));

  const runtimes = walk<RuntimeRecord, string>(
    (query) => store.listRuntimes(query),
    (r) => r.name,
    5,
  );
  assert.deepEqual(
    runtimes.items.map((r) => r.name),
    names,
  );
  assert.equal(runtimes.pages, 5);

  const oldest = walk<VersionRecord, number>(
    (query) => store.listVersions('rt00', query),
    (v) => v.version,
    100,
  );
  assert.deepEqual(
    oldest.items.map((v) => v.version),
    Array.from({ length: 250 }, (_, i) => i + 1),
  );
  assert.equal(oldest.pages, 3);
  assert.equal(oldest.items[249]?.spec.command, 'node v250.js');
  const newest = walk<VersionRecord, number>(
    (query) => store.listVersions('rt00', { ...query, newestFirst: true }),
    (v) => v.version,
    100,
  );
  assert.deepEqual(
    newest.items.map((v) => v.version),
    Array.from({ length: 250 }, (_, i) => 250 - i),
  );
  assert.deepEqual(
    store.listVersions('rt01', { limit: 100 }).map((v) => v.version),
    [1],
    'versions of one runtime only',
  );

  for (const endpoint of ['gamma', 'alpha', 'beta', 'Zeta']) store.putEndpoint('rt00', endpoint, 1);
  const endpoints = walk<EndpointRecord, string>(
    (query) => store.listEndpoints('rt00', query),
    (e) => e.name,
    3,
  );
  assert.deepEqual(
    endpoints.items.map((e) => e.name),
    ['Zeta', 'alpha', 'beta', 'gamma'],
    'by code point: capitals first',
  );
  assert.deepEqual(store.listEndpoints('rt01', { limit: 3 }), []);
});

test('a page does not shift when items before it go or come', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) store.putVersion(name, spec('node a.js'));
  const first = store.listRuntimes({ limit: 2 });
  assert.deepEqual(
    first.map((r) => r.name),
    ['a', 'b'],
  );
  store.deleteRuntime('a');
  store.putVersion('aa', spec('node a.js'));
  assert.deepEqual(
    store.listRuntimes({ limit: 2, after: 'b' }).map((r) => r.name),
    ['c', 'd'],
  );
});

const positionOf = (key: ApiKeyRecord): ApiKeyPosition => ({ createdAt: key.createdAt, id: key.id });

test('API keys page newest first, keys made in the same millisecond by id', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  store.putVersion('agent', spec('node a.js'));
  const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
  const made: Array<{ id: string; createdAt: string }> = [];
  for (let i = 0; i < 12; i++) {
    const record = { id: `key${String(i).padStart(2, '0')}`, createdAt: at(Math.floor(i / 3)) };
    made.push(record);
    store.putApiKey({ ...record, hash: 'aa', scope: i % 2 === 0 ? { kind: 'admin' } : { kind: 'runtime', runtime: 'agent' }, userId: 'u' });
  }
  const expected = [...made].sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? 1 : -1)).map((k) => k.id);
  assert.deepEqual(
    store.listApiKeys().map((k) => k.id),
    expected,
    'the unpaged order',
  );
  for (const limit of [1, 2, 4, 5]) {
    const keys = walk<ApiKeyRecord, ApiKeyPosition>((query) => store.listApiKeys({}, query), positionOf, limit);
    assert.deepEqual(
      keys.items.map((k) => k.id),
      expected,
      `pages of ${limit}`,
    );
  }
  const runtimeKeys = walk<ApiKeyRecord, ApiKeyPosition>((query) => store.listApiKeys({ runtime: 'agent' }, query), positionOf, 2);
  assert.deepEqual(
    runtimeKeys.items.map((k) => k.id),
    expected.filter((id) => Number(id.slice(3)) % 2 === 1),
  );
  const adminKeys = walk<ApiKeyRecord, ApiKeyPosition>((query) => store.listApiKeys({ admin: true }, query), positionOf, 4);
  assert.deepEqual(
    adminKeys.items.map((k) => k.id),
    expected.filter((id) => Number(id.slice(3)) % 2 === 0),
  );
});

test('a key from anywhere is only a position: hostile text reads nothing more and changes nothing', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  for (const name of ['a', 'b', 'c']) store.putVersion(name, spec('node a.js'));
  for (const after of ["' OR 1=1 --", "a'; DROP TABLE runtimes; --", '\u0000', '\uffff'.repeat(4096)]) {
    const page = store.listRuntimes({ limit: 10, after });
    assert.deepEqual(
      page.map((r) => r.name),
      ['a', 'b', 'c'].filter((name) => name > after),
      JSON.stringify(after.slice(0, 20)),
    );
  }
  assert.deepEqual(store.listApiKeys({}, { limit: 10, after: { createdAt: "' OR ''='", id: "') --" } }), []);
  assert.equal(store.listRuntimes().length, 3);
  assert.throws(() => store.listRuntimes({ limit: 0 }), /1 or more/);
  assert.throws(() => store.listRuntimes({ limit: 1.5 }), /1 or more/);
});
