import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runtimeSpec } from '../../test/helpers/runtime-spec.ts';
import { BerthError } from '../core/errors.ts';
import { SecretBox } from '../core/secret-box.ts';
import type { SessionManager } from '../sessions/manager.ts';
import type { ArtifactStore } from '../store/artifacts.ts';
import type { RuntimeRecord, Store, VersionRecord } from '../store/store.ts';
import { RuntimeService, type RuntimeDefaults } from './runtimes.ts';

const MIB = 1024 * 1024;
const DEFAULTS: RuntimeDefaults = {
  idleTimeoutSeconds: 900,
  maxLifetimeSeconds: 28_800,
  startTimeoutMs: 30_000,
  inputTimeoutMs: 60_000,
  logBytes: 64 * 1024,
  limits: { memoryBytes: 512 * MIB, pids: 256, cpus: 1, tmpBytes: 64 * MIB, workspaceBytes: 128 * MIB, openFiles: 1024 },
  perSession: { subscriptions: 10, listeners: 10, pendingInputs: 10 },
};
const RUNTIME: RuntimeRecord = {
  id: 'counter-AbCdEf1234',
  name: 'counter',
  latestVersion: 1,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
};
const VERSION: VersionRecord = { runtime: 'counter', version: 1, createdAt: '2026-01-01T00:00:00Z', spec: runtimeSpec({ artifactId: 'art_abc' }) };

/** A cluster's store as resolutions read it: answering, held at its version read, or away. */
function store(): { store: Store; hold(): () => void; away(): void } {
  let gate: Promise<void> | undefined;
  let isAway = false;
  const answer = async <T>(value: T): Promise<T> => {
    await gate;
    if (isAway) throw new BerthError('store_unavailable', 'the store does not answer');
    return value;
  };
  const fake = {
    getRuntime: () => answer(RUNTIME),
    getEndpoint: () => answer(undefined),
    getVersion: () => answer(VERSION),
  } as unknown as Store;
  return {
    store: fake,
    hold: () => {
      let open = (): void => {};
      gate = new Promise((resolve) => (open = resolve));
      return () => {
        gate = undefined;
        open();
      };
    },
    away: () => (isAway = true),
  };
}

function service(fake: Store): RuntimeService {
  const artifacts = { ensure: async () => {}, path: (id: string) => `/artifacts/${id}` } as unknown as ArtifactStore;
  return new RuntimeService(fake, artifacts, {} as SessionManager, new SecretBox(Buffer.alloc(32, 1)), DEFAULTS);
}

test("a resolution read across another node's change is not kept, but serves while the store is away after it", async () => {
  const { store: fake, hold, away } = store();
  const runtimes = service(fake);
  const release = hold();
  const reading = runtimes.resolve('counter');
  // Another node's change is seen while this node's first read is under way (the cluster's control watch).
  runtimes.forgetKept();
  release();
  assert.equal((await reading).version.version, 1);
  assert.equal(runtimes.resolved('counter'), undefined, 'read across a change: not kept');
  away();
  assert.equal((await runtimes.resolve('counter')).version.version, 1, 'what this node last knew, with the store away');
});

test('with the store away, a runtime this node never read is an error that says the store is away', async () => {
  const { store: fake, away } = store();
  const runtimes = service(fake);
  away();
  await assert.rejects(runtimes.resolve('counter'), (error: BerthError) => error.code === 'store_unavailable');
});
