import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../../../test/helpers/postgres.ts';
import { openStore } from '../open-store.ts';
import { runtimeSpec } from '../../../test/helpers/runtime-spec.ts';
import type { ApiKeyPosition, ApiKeyRecord, EndpointRecord, PageQuery, RuntimeRecord, RuntimeSpec, Store, VersionRecord } from '../store.ts';

const spec = (command: string): RuntimeSpec => runtimeSpec({ command, env: { A: '1' } });

/** One kind of database the store runs on: where a fresh, empty store is, and how to open one there. */
interface Dialect {
  name: string;
  unsupported: string | undefined;
  fresh(t: TestContext): Promise<string>;
  open(place: string): Promise<Store>;
  /** How many stores may be open on one place at once: the nodes of a cluster, or one node's own file. */
  handles: number;
}

const sqlite: Dialect = {
  name: 'SQLite',
  unsupported: undefined,
  async fresh(t) {
    const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'berth.db');
  },
  open: async (file) => (await openStore({ sqlite: file })).store,
  handles: 1,
};

let server: Postgres | undefined;
after(() => server?.stop());

const postgresql: Dialect = {
  name: 'PostgreSQL',
  unsupported: postgresUnsupportedReason(),
  // One server for the file, a database for each test.
  fresh: async () => (server ??= await startPostgres()).database(),
  open: async (url) => (await openStore({ postgresql: url })).store,
  handles: 3,
};

/** Every item of a list, walked page by page as a client would: each page after the last key of the one before. */
async function walk<T, K>(fetch: (query: PageQuery<K>) => Promise<T[]>, keyOf: (item: T) => K, limit: number): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let pages = 0;
  let after: K | undefined;
  for (;;) {
    const page = await fetch(after === undefined ? { limit } : { limit, after });
    pages++;
    assert.ok(page.length <= limit, `a page holds at most ${limit}`);
    items.push(...page);
    if (page.length < limit) return { items, pages };
    after = keyOf(page[page.length - 1] as T);
  }
}

const positionOf = (key: ApiKeyRecord): ApiKeyPosition => ({ createdAt: key.createdAt, id: key.id });

// The same behaviour, whichever database holds it: every test runs on both.
for (const dialect of [sqlite, postgresql]) {
  describe(`the store on ${dialect.name}`, { skip: dialect.unsupported ?? false }, () => {
    test('versions are numbered from 1 and survive reopening the file', async (t) => {
      const place = await dialect.fresh(t);
      const store = await dialect.open(place);
      assert.equal((await store.putVersion('counter', spec('node a.js'))).version, 1);
      assert.equal((await store.putVersion('counter', spec('node b.js'))).version, 2);
      await store.putArtifact({ id: 'art_1', bytes: 10, files: 1, createdAt: new Date().toISOString() });
      const id = (await store.getRuntime('counter'))?.id;
      assert.match(id ?? '', /^counter-[A-Za-z0-9]{10}$/);
      await store.close();

      const reopened = await dialect.open(place);
      t.after(() => reopened.close());
      assert.equal((await reopened.getRuntime('counter'))?.latestVersion, 2);
      assert.equal((await reopened.getRuntime('counter'))?.id, id);
      assert.equal((await reopened.getVersion('counter', 1))?.spec.command, 'node a.js');
      assert.deepEqual(
        (await reopened.listVersions('counter')).map((v) => v.version),
        [1, 2],
      );
      assert.equal((await reopened.getArtifact('art_1'))?.bytes, 10);
      assert.equal((await reopened.listRuntimes()).length, 1);
      assert.ok(await reopened.deleteRuntime('counter'));
      assert.equal(await reopened.getRuntime('counter'), undefined);
      assert.equal((await reopened.listVersions('counter')).length, 0);
      assert.ok(!(await reopened.deleteRuntime('counter')));
    });

    test("ended sessions' records: the last end of an id is kept, survives reopening, and is forgotten once old", async (t) => {
      const place = await dialect.fresh(t);
      const store = await dialect.open(place);
      const record = (id: string, endedAt: string, reason: string) => ({ id, runtime: 'counter', version: 1, principal: 'alice', endedAt, reason, limits: [] });
      await store.putEndedSession(record('s-old', '2026-01-01T00:00:00.000Z', 'idle'));
      await store.putEndedSession(record('s-new', '2026-06-01T00:00:00.000Z', 'stopped'));
      await store.putEndedSession(record('s-new', '2026-06-02T00:00:00.000Z', 'node-lost'));
      await store.close();
      const reopened = await dialect.open(place);
      t.after(() => reopened.close());
      assert.deepEqual(await reopened.getEndedSession('s-new'), record('s-new', '2026-06-02T00:00:00.000Z', 'node-lost'), 'the last end wins');
      assert.equal(await reopened.pruneEndedSessions('2026-03-01T00:00:00.000Z'), 1);
      assert.equal(await reopened.getEndedSession('s-old'), undefined);
      assert.equal(await reopened.getEndedSession("' OR 1=1 --"), undefined);
      assert.equal((await reopened.getEndedSession('s-new'))?.reason, 'node-lost');
    });

    test('endpoints pin versions, move, survive reopening, and go with their runtime; runtimes are found by id', async (t) => {
      const place = await dialect.fresh(t);
      const store = await dialect.open(place);
      await store.putVersion('agent', spec('node a.js'));
      await store.putVersion('agent', spec('node b.js'));
      const created = await store.putEndpoint('agent', 'stable', 1, 'the first');
      assert.match(created.id, /^stable-[A-Za-z0-9]{10}$/);
      assert.equal(created.targetVersion, 1);
      const moved = await store.putEndpoint('agent', 'stable', 2);
      assert.equal(moved.id, created.id);
      assert.equal(moved.targetVersion, 2);
      assert.equal(moved.description, 'the first', 'moving keeps the description');
      await store.putEndpoint('agent', 'beta', 2);
      await store.close();

      const reopened = await dialect.open(place);
      t.after(() => reopened.close());
      assert.deepEqual(
        (await reopened.listEndpoints('agent')).map((e) => [e.name, e.targetVersion]),
        [
          ['beta', 2],
          ['stable', 2],
        ],
      );
      const runtime = await reopened.getRuntime('agent');
      assert.equal((await reopened.getRuntimeById(runtime?.id ?? ''))?.name, 'agent');
      assert.ok(await reopened.deleteEndpoint('agent', 'beta'));
      assert.ok(!(await reopened.deleteEndpoint('agent', 'beta')));
      await reopened.deleteRuntime('agent');
      assert.deepEqual(await reopened.listEndpoints('agent'), []);
    });

    test('API keys: stored with their hash, revoked once, survive reopening, and go with their runtime', async (t) => {
      const place = await dialect.fresh(t);
      const store = await dialect.open(place);
      await store.putVersion('agent', spec('node a.js'));
      const at = new Date().toISOString();
      await store.putApiKey({ id: 'adminkey', hash: 'aa', scope: { kind: 'admin' }, userId: 'admin', createdAt: at });
      const alice: ApiKeyRecord = {
        id: 'alicekey',
        hash: 'bb',
        scope: { kind: 'runtime', runtime: 'agent' },
        userId: 'alice',
        description: 'laptop',
        createdAt: at,
      };
      await store.putApiKey(alice);
      assert.ok(await store.revokeApiKey('adminkey', at));
      assert.ok(!(await store.revokeApiKey('adminkey', at)), 'a key is revoked once');
      assert.ok(!(await store.revokeApiKey('nokey', at)));
      await store.close();

      const reopened = await dialect.open(place);
      t.after(() => reopened.close());
      assert.deepEqual(await reopened.getApiKey('alicekey'), alice);
      assert.equal((await reopened.getApiKey('adminkey'))?.revokedAt, at);
      assert.deepEqual(
        (await reopened.listApiKeys({ admin: true })).map((k) => k.id),
        ['adminkey'],
      );
      assert.deepEqual(
        (await reopened.listApiKeys({ runtime: 'agent' })).map((k) => k.id),
        ['alicekey'],
      );
      assert.equal((await reopened.listApiKeys()).length, 2);
      await reopened.deleteRuntime('agent');
      assert.equal(await reopened.getApiKey('alicekey'), undefined);
      assert.ok(await reopened.getApiKey('adminkey'), 'admin keys belong to no runtime');
    });

    test('runtimes, versions and endpoints page by key, in their order, oldest or newest first', async (t) => {
      const store = await dialect.open(await dialect.fresh(t));
      t.after(() => store.close());
      const names = Array.from({ length: 23 }, (_, i) => `rt${String(i).padStart(2, '0')}`);
      for (const name of [...names].reverse()) await store.putVersion(name, spec('node a.js'));
      for (let i = 0; i < 249; i++) await store.putVersion('rt00', spec(`node v${i + 2}.js`));

      const runtimes = await walk<RuntimeRecord, string>(
        (query) => store.listRuntimes(query),
        (r) => r.name,
        5,
      );
      assert.deepEqual(
        runtimes.items.map((r) => r.name),
        names,
      );
      assert.equal(runtimes.pages, 5);

      const oldest = await walk<VersionRecord, number>(
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
      const newest = await walk<VersionRecord, number>(
        (query) => store.listVersions('rt00', { ...query, newestFirst: true }),
        (v) => v.version,
        100,
      );
      assert.deepEqual(
        newest.items.map((v) => v.version),
        Array.from({ length: 250 }, (_, i) => 250 - i),
      );
      assert.deepEqual(
        (await store.listVersions('rt01', { limit: 100 })).map((v) => v.version),
        [1],
        'versions of one runtime only',
      );

      for (const endpoint of ['gamma', 'alpha', 'beta', 'Zeta']) await store.putEndpoint('rt00', endpoint, 1);
      const endpoints = await walk<EndpointRecord, string>(
        (query) => store.listEndpoints('rt00', query),
        (e) => e.name,
        3,
      );
      assert.deepEqual(
        endpoints.items.map((e) => e.name),
        ['Zeta', 'alpha', 'beta', 'gamma'],
        'by code point: capitals first',
      );
      assert.deepEqual(await store.listEndpoints('rt01', { limit: 3 }), []);
    });

    test('a page does not shift when items before it go or come', async (t) => {
      const store = await dialect.open(await dialect.fresh(t));
      t.after(() => store.close());
      for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) await store.putVersion(name, spec('node a.js'));
      const first = await store.listRuntimes({ limit: 2 });
      assert.deepEqual(
        first.map((r) => r.name),
        ['a', 'b'],
      );
      await store.deleteRuntime('a');
      await store.putVersion('aa', spec('node a.js'));
      assert.deepEqual(
        (await store.listRuntimes({ limit: 2, after: 'b' })).map((r) => r.name),
        ['c', 'd'],
      );
    });

    test('API keys page newest first, keys made in the same millisecond by id', async (t) => {
      const store = await dialect.open(await dialect.fresh(t));
      t.after(() => store.close());
      await store.putVersion('agent', spec('node a.js'));
      const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
      const made: Array<{ id: string; createdAt: string }> = [];
      for (let i = 0; i < 12; i++) {
        const record = { id: `key${String(i).padStart(2, '0')}`, createdAt: at(Math.floor(i / 3)) };
        made.push(record);
        await store.putApiKey({ ...record, hash: 'aa', scope: i % 2 === 0 ? { kind: 'admin' } : { kind: 'runtime', runtime: 'agent' }, userId: 'u' });
      }
      const expected = [...made].sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? 1 : -1)).map((k) => k.id);
      assert.deepEqual(
        (await store.listApiKeys()).map((k) => k.id),
        expected,
        'the unpaged order',
      );
      for (const limit of [1, 2, 4, 5]) {
        const keys = await walk<ApiKeyRecord, ApiKeyPosition>((query) => store.listApiKeys({}, query), positionOf, limit);
        assert.deepEqual(
          keys.items.map((k) => k.id),
          expected,
          `pages of ${limit}`,
        );
      }
      const runtimeKeys = await walk<ApiKeyRecord, ApiKeyPosition>((query) => store.listApiKeys({ runtime: 'agent' }, query), positionOf, 2);
      assert.deepEqual(
        runtimeKeys.items.map((k) => k.id),
        expected.filter((id) => Number(id.slice(3)) % 2 === 1),
      );
      const adminKeys = await walk<ApiKeyRecord, ApiKeyPosition>((query) => store.listApiKeys({ admin: true }, query), positionOf, 4);
      assert.deepEqual(
        adminKeys.items.map((k) => k.id),
        expected.filter((id) => Number(id.slice(3)) % 2 === 0),
      );
    });

    test('stores opened and written at once, as the nodes of a cluster are: one schema, one number per deploy, one endpoint', async (t) => {
      const place = await dialect.fresh(t);
      // Opened together, so their migrations race; each is applied once.
      const stores = await Promise.all(Array.from({ length: dialect.handles }, () => dialect.open(place)));
      t.after(() => Promise.all(stores.map((store) => store.close())));
      const at = (i: number): Store => stores[i % stores.length] as Store;
      const made = await Promise.all(Array.from({ length: 30 }, (_, i) => at(i).putVersion('shared', spec(`node v${i}.js`))));
      assert.deepEqual(
        made.map((v) => v.version).sort((a, b) => a - b),
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
      for (const version of made) assert.equal((await at(version.version).getVersion('shared', version.version))?.spec.command, version.spec.command);
      assert.equal((await at(1).getRuntime('shared'))?.latestVersion, 30);
      const endpoints = await Promise.all(
        Array.from({ length: 6 }, (_, i) => at(i).putEndpoint('shared', 'stable', (i % 3) + 1, i === 0 ? 'first' : undefined)),
      );
      assert.equal(new Set(endpoints.map((e) => e.id)).size, 1, 'one endpoint, whoever made it');
      assert.equal((await at(2).listEndpoints('shared')).length, 1);
      assert.equal((await at(2).getEndpoint('shared', 'stable'))?.description, 'first');
    });

    test('a key from anywhere is only a position: hostile text reads nothing more and changes nothing', async (t) => {
      const store = await dialect.open(await dialect.fresh(t));
      t.after(() => store.close());
      for (const name of ['a', 'b', 'c']) await store.putVersion(name, spec('node a.js'));
      for (const after of ["' OR 1=1 --", "a'; DROP TABLE runtimes; --", '\u0000', '\uffff'.repeat(4096)]) {
        const page = await store.listRuntimes({ limit: 10, after });
        assert.deepEqual(
          page.map((r) => r.name),
          ['a', 'b', 'c'].filter((name) => name > after),
          JSON.stringify(after.slice(0, 20)),
        );
      }
      assert.deepEqual(await store.listApiKeys({}, { limit: 10, after: { createdAt: "' OR ''='", id: "') --" } }), []);
      // A position with a NUL pages as the text before it: the key made in 2025 comes after "2026…", the 2027 one does not.
      await store.putApiKey({ id: 'old', hash: 'aa', scope: { kind: 'admin' }, userId: 'admin', createdAt: '2025-01-01T00:00:00.000Z' });
      await store.putApiKey({ id: 'new', hash: 'aa', scope: { kind: 'admin' }, userId: 'admin', createdAt: '2027-01-01T00:00:00.000Z' });
      assert.deepEqual(
        (await store.listApiKeys({}, { limit: 10, after: { createdAt: '2026\u0000', id: '\u0000' } })).map((key) => key.id),
        ['old'],
      );
      assert.equal((await store.listRuntimes()).length, 3);
      await assert.rejects(store.listRuntimes({ limit: 0 }), /1 or more/);
      await assert.rejects(store.listRuntimes({ limit: 1.5 }), /1 or more/);
    });
  });
}

test('the database and its WAL files are readable by berth alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { store } = await openStore({ sqlite: join(dir, 'berth.db') });
  t.after(() => store.close());
  await store.putVersion('secretive', spec('node a.js'));
  for (const name of readdirSync(dir)) assert.equal(statSync(join(dir, name)).mode & 0o077, 0, `${name} is owner-only`);
  assert.ok(readdirSync(dir).includes('berth.db-wal'));
});
