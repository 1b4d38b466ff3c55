import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../observability/logger.ts';
import type { Sandbox, SandboxSpec } from '../sandbox/driver.ts';
import type { SessionTarget } from './session.ts';
import { WarmPools } from './warm-pool.ts';

const QUIET = createLogger({ level: 'error', format: 'text', write: () => {} });

interface Started {
  spec: SandboxSpec;
  stopped: boolean;
  die: () => void;
}

/** Pools whose sandboxes are records the test can stop or kill; `room` and failures as the test sets them. */
function pools(options: { room?: () => number; fail?: () => boolean; mayGrow?: () => boolean; busy?: () => boolean } = {}) {
  const started: Started[] = [];
  const pool = new WarmPools({
    room: options.room ?? (() => 100),
    ...(options.mayGrow ? { mayGrow: options.mayGrow } : {}),
    logger: QUIET,
    retryMs: 50,
    start: (spec) => (options.busy?.() ? undefined : startOne(spec)),
  });
  async function startOne(spec: SandboxSpec): Promise<Sandbox> {
    if (options.fail?.()) throw new Error('the server exited at start');
    let die = (): void => {};
    const closing = new Promise<void>((resolve) => (die = resolve));
    const record: Started = { spec, stopped: false, die };
    started.push(record);
    return {
      id: spec.id,
      closing,
      exited: closing.then(() => ({ reason: 'stopped' })),
      stop: async () => {
        record.stopped = true;
        die();
      },
    } as unknown as Sandbox;
  }
  return { pool, started };
}

function target(version = 1, command = 'node server.js'): SessionTarget {
  return { runtime: 'rt', version, idleTimeoutSeconds: 60, maxLifetimeSeconds: 3600, sandbox: { command } as SessionTarget['sandbox'] };
}

const settle = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('a pool fills, hands each sandbox out once, and fills again', async () => {
  const { pool, started } = pools();
  const v1 = target();
  pool.set(v1, 2);
  await settle();
  assert.deepEqual(pool.describe('rt'), { size: 2, ready: 2, version: 1 });
  const first = pool.take(v1);
  const second = pool.take(v1);
  assert.ok(first && second && first !== second);
  assert.equal(pool.take(v1), undefined, 'none ready until the pool fills again');
  await settle(50);
  assert.equal(pool.describe('rt')?.ready, 0, 'not at once: the sessions just handed sandboxes have the CPU first');
  await settle(300);
  assert.equal(pool.describe('rt')?.ready, 2);
  assert.equal(new Set(started.map((s) => s.spec.id)).size, 4, 'every sandbox a fresh start');
  assert.ok(!started.some((s) => s.stopped), "what was handed out is the sessions' to stop, not the pool's");
});

test("only a session of exactly the pool's version and start spec takes from it; a new version replaces the pool", async () => {
  const { pool, started } = pools();
  pool.set(target(1), 1);
  await settle();
  assert.equal(pool.take(target(2)), undefined);
  assert.equal(pool.take(target(1, 'node other.js')), undefined, 'a runtime made again under its name, with other code');
  pool.set(target(2), 1);
  await settle();
  assert.equal(started[0]?.stopped, true, "the old version's sandbox stops");
  assert.deepEqual(pool.describe('rt'), { size: 1, ready: 1, version: 2 });
  pool.set(target(2), 0);
  assert.equal(pool.describe('rt'), undefined);
  assert.equal(started[1]?.stopped, true);
});

test('a pool fills only into the room the node has, gives way to a cold session, and loses a sandbox that dies', async () => {
  let room = 1;
  const { pool, started } = pools({ room: () => room - pool.size });
  pool.set(target(), 3);
  await settle();
  assert.equal(pool.describe('rt')?.ready, 1, 'one sandbox of room');
  assert.ok(pool.shrink());
  assert.equal(started[0]?.stopped, true);
  assert.equal(pool.shrink(), false, 'nothing ready to give');
  room = 2;
  pool.refill();
  await settle();
  assert.equal(pool.describe('rt')?.ready, 2);
  started[1]?.die();
  await settle();
  assert.equal(pool.describe('rt')?.ready, 2, 'a sandbox whose server died leaves the pool, and another starts');
  assert.equal(started.length, 4);
});

test('a start that fails is tried again after a pause, not at once; closing stops everything', async () => {
  let failing = true;
  const { pool, started } = pools({ fail: () => failing });
  pool.set(target(), 2);
  await settle(10);
  assert.equal(pool.describe('rt')?.ready, 0);
  failing = false;
  await settle(120);
  assert.equal(pool.describe('rt')?.ready, 2, 'filled after the pause');
  await pool.close();
  assert.ok(started.every((s) => s.stopped));
  pool.set(target(3), 1);
  assert.equal(pool.describe('rt'), undefined, 'a closed pool fills no more');
});

test('a pool grows only while the host has memory to spare beyond what sessions may need', async () => {
  let spare = false;
  const { pool } = pools({ mayGrow: () => spare });
  pool.set(target(), 2);
  await settle();
  assert.equal(pool.describe('rt')?.ready, 0);
  spare = true;
  pool.set(target(), 2);
  await settle();
  assert.equal(pool.describe('rt')?.ready, 2);
});

test('a pool waits its turn for a start slot, and takes one once the sessions leave one free', async () => {
  let busy = true;
  const { pool } = pools({ busy: () => busy });
  pool.set(target(), 1);
  await settle(20);
  assert.equal(pool.describe('rt')?.ready, 0);
  busy = false;
  await settle(400);
  assert.equal(pool.describe('rt')?.ready, 1);
});

test('a pool that gives way while its sandboxes still start stops one once started; a smaller size gives back the rest', async () => {
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const started: Array<{ id: string; stopped: boolean }> = [];
  const pool = new WarmPools({
    room: () => 10,
    logger: QUIET,
    start: async (spec) => {
      await gate;
      const record = { id: spec.id, stopped: false };
      started.push(record);
      return { id: spec.id, closing: new Promise(() => {}), stop: async () => void (record.stopped = true) } as unknown as Sandbox;
    },
  });
  pool.set(target(), 3);
  assert.equal(pool.size, 3);
  assert.ok(pool.shrink(), 'one still starting gives way');
  assert.equal(pool.size, 2, 'and no longer counts against the node');
  release();
  await settle();
  assert.equal(pool.describe('rt')?.ready, 2);
  assert.equal(started.filter((s) => s.stopped).length, 1, 'the one that gave way stopped once started');
  pool.set(target(), 1);
  assert.equal(pool.describe('rt')?.ready, 1);
  assert.equal(started.filter((s) => s.stopped).length, 2);
});

test('each failed start makes the pool wait longer before it tries again', async () => {
  const attempts: number[] = [];
  const pool = new WarmPools({
    room: () => 10,
    logger: QUIET,
    retryMs: 20,
    start: async () => {
      attempts.push(performance.now());
      throw new Error('the server exited at start');
    },
  });
  pool.set(target(), 1);
  for (let waited = 0; attempts.length < 4 && waited < 5_000; waited += 10) await settle(10);
  await pool.close();
  // The waits between tries are at least 20, 40 and 80 ms: each twice the last (a timer never fires early).
  const gaps = attempts.slice(1, 4).map((at, i) => at - (attempts[i] as number));
  assert.equal(gaps.length, 3);
  gaps.forEach((gap, i) => assert.ok(gap >= 20 * 2 ** i - 2, `wait ${i + 1}: ${gap.toFixed(1)} ms`));
});
