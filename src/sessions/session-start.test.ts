import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBerthError } from '../core/errors.ts';
import type { Sandbox, SandboxDriver, SandboxSpec } from '../sandbox/driver.ts';
import { Admission, type ShedReason } from './admission.ts';
import type { SessionTarget } from './session.ts';
import { POOL_MEMORY_MARGIN, SessionStarter } from './session-start.ts';
import { WarmPools } from './warm-pool.ts';
import { createLogger } from '../observability/logger.ts';

const ALICE = { key: 'k-alice', userId: 'alice' };

/** A driver whose sandboxes report the era the test sets, and which remembers what it was asked to start. */
function starter(options: { maxSessions?: number; era?: 'modern' | 'legacy'; availableMemory?: number; pools?: WarmPools } = {}) {
  const specs: SandboxSpec[] = [];
  const shed: ShedReason[] = [];
  const driver = {
    name: 'fake',
    isolated: false,
    start: (spec: SandboxSpec) => {
      specs.push(spec);
      return Promise.resolve({ id: spec.id, era: options.era ?? 'legacy' } as unknown as Sandbox);
    },
    close: () => Promise.resolve(),
  } satisfies SandboxDriver;
  const admission = new Admission({
    maxStarting: 4,
    startQueue: 4,
    startQueueWaitMs: 1_000,
    minFreeMemoryBytes: 100,
    availableMemory: () => options.availableMemory,
    onShed: (reason) => shed.push(reason),
  });
  const sessions = new SessionStarter({
    driver,
    admission,
    maxSessions: options.maxSessions ?? 10,
    onShed: (reason) => shed.push(reason),
    ...(options.pools ? { pools: options.pools } : {}),
  });
  return { sessions, specs, shed };
}

function target(era: 'auto' | 'modern' | 'legacy' = 'auto', version = 1): SessionTarget {
  return { runtime: 'rt', version, idleTimeoutSeconds: 60, maxLifetimeSeconds: 3600, sandbox: { era } as SessionTarget['sandbox'] };
}

test('a new session is a starting record whose sandbox the driver starts under a fresh id', async () => {
  const { sessions, specs } = starter();
  const session = sessions.start('ses_1', target(), ALICE, true, 0);
  assert.equal(session.state, 'starting');
  assert.equal(session.unclaimed, true);
  assert.equal(session.inFlight, 0);
  assert.equal(session.principal, ALICE);
  assert.match(session.sandboxId, /^sbx_/);
  assert.equal((await session.ready).id, session.sandboxId);
  assert.equal(specs[0]?.id, session.sandboxId);
});

test('a node at its session cap refuses a new one with 429 and says it shed load', () => {
  const { sessions, shed, specs } = starter({ maxSessions: 2 });
  assert.throws(
    () => sessions.start('ses_1', target(), ALICE, false, 2),
    (error) => isBerthError(error) && error.code === 'session_limit' && error.retryAfter === 10,
  );
  assert.deepEqual(shed, ['sessions']);
  assert.equal(specs.length, 0);
});

test('a node short of memory refuses a new session before it starts a sandbox', () => {
  const { sessions, specs } = starter({ availableMemory: 1 });
  assert.throws(
    () => sessions.start('ses_1', target(), ALICE, false, 0),
    (error) => isBerthError(error) && error.code === 'overloaded',
  );
  assert.equal(specs.length, 0);
});

test('a draining node starts no new session', () => {
  const { sessions, specs } = starter();
  assert.equal(sessions.draining, false);
  sessions.drain();
  assert.equal(sessions.draining, true);
  assert.throws(
    () => sessions.start('ses_1', target(), ALICE, false, 0),
    (error) => isBerthError(error) && error.code === 'draining' && error.retryAfter === 2,
  );
  assert.equal(specs.length, 0);
});

test('once a sandbox of a version answered as a modern server, the next ones of that version are told so', async () => {
  const modern = starter({ era: 'modern' });
  await modern.sessions.start('ses_1', target('auto'), ALICE, false, 0).ready;
  await modern.sessions.start('ses_2', target('auto'), ALICE, false, 1).ready;
  await modern.sessions.start('ses_3', target('auto', 2), ALICE, false, 2).ready;
  assert.deepEqual(
    modern.specs.map((spec) => spec.era),
    ['auto', 'modern', 'auto'],
  );

  // A server that did not answer the probe is not known to be legacy: the next sandbox asks again.
  const legacy = starter({ era: 'legacy' });
  await legacy.sessions.start('ses_1', target('auto'), ALICE, false, 0).ready;
  await legacy.sessions.start('ses_2', target('auto'), ALICE, false, 1).ready;
  assert.deepEqual(
    legacy.specs.map((spec) => spec.era),
    ['auto', 'auto'],
  );
});

test("a session that starts cold on a node short of memory, or at its cap, takes a pooled sandbox's room", async () => {
  const stopped: string[] = [];
  const pools = new WarmPools({
    room: () => 10,
    logger: createLogger({ level: 'error', format: 'text', write: () => {} }),
    start: async (spec) => ({ id: spec.id, closing: new Promise(() => {}), stop: async () => void stopped.push(spec.id) }) as unknown as Sandbox,
  });
  const other: SessionTarget = { ...target(), runtime: 'other' };
  pools.set(other, 2);
  await new Promise((resolve) => setTimeout(resolve, 0));
  const roomy = starter({ availableMemory: POOL_MEMORY_MARGIN * 4, pools });
  await roomy.sessions.start('ses_1', target(), ALICE, false, 0).ready;
  assert.deepEqual(stopped, [], 'memory to spare and room: the pool keeps its sandboxes');
  const short = starter({ availableMemory: POOL_MEMORY_MARGIN / 2, pools });
  await short.sessions.start('ses_2', target(), ALICE, false, 0).ready;
  assert.equal(stopped.length, 1, 'short of memory: a pooled sandbox gives way');
  const full = starter({ availableMemory: POOL_MEMORY_MARGIN * 4, pools, maxSessions: 2 });
  await full.sessions.start('ses_3', target(), ALICE, false, 1).ready;
  assert.equal(stopped.length, 2, 'at the cap with a pooled sandbox: it gives way');
});
