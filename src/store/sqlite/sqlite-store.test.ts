import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from './sqlite-store.ts';
import type { RuntimeSpec } from '../store.ts';

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
  assert.deepEqual(reopened.listVersions('counter').map((v) => v.version), [1, 2]);
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
  assert.deepEqual(reopened.listEndpoints('agent').map((e) => [e.name, e.targetVersion]), [['beta', 2], ['stable', 2]]);
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
  assert.deepEqual(reopened.getApiKey('alicekey'), { id: 'alicekey', hash: 'bb', scope: { kind: 'runtime', runtime: 'agent' }, userId: 'alice', description: 'laptop', createdAt: at });
  assert.equal(reopened.getApiKey('adminkey')?.revokedAt, at);
  assert.deepEqual(reopened.listApiKeys({ admin: true }).map((k) => k.id), ['adminkey']);
  assert.deepEqual(reopened.listApiKeys({ runtime: 'agent' }).map((k) => k.id), ['alicekey']);
  assert.equal(reopened.listApiKeys().length, 2);
  reopened.deleteRuntime('agent');
  assert.equal(reopened.getApiKey('alicekey'), undefined);
  assert.ok(reopened.getApiKey('adminkey'), "admin keys belong to no runtime");
});
