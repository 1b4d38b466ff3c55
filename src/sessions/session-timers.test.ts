import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { Sandbox, SandboxActivity } from '../sandbox/driver.ts';
import type { Session } from './session.ts';
import { SessionTimers, type TimedEnd } from './session-timers.ts';

const START = 1_000_000;

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: START }));
afterEach(() => mock.timers.reset());

/** A ready session whose sandbox reports the activity the test sets, and the timers that watch it. */
function clocked(options: { idle?: number; lifetime?: number; unclaimed?: boolean; createdAt?: number } = {}) {
  const activity: SandboxActivity = { waiting: 0, busy: false };
  const listeners: Array<(activity: SandboxActivity) => void> = [];
  const sandbox = { activity, onActivity: (listener: (activity: SandboxActivity) => void) => listeners.push(listener) } as unknown as Sandbox;
  const createdAt = options.createdAt ?? Date.now();
  const session = {
    id: 'ses_1',
    state: 'ready',
    createdAt,
    lastActiveAt: createdAt,
    inFlight: 0,
    unclaimed: options.unclaimed ?? false,
    sandbox,
    target: { idleTimeoutSeconds: options.idle ?? 60, maxLifetimeSeconds: options.lifetime ?? 3600 },
  } as unknown as Session;
  const ends: TimedEnd[] = [];
  const timers = new SessionTimers(5, (_session, reason) => ends.push(reason));
  const report = (change: Partial<SandboxActivity>): void => {
    Object.assign(activity, change);
    for (const listener of listeners) listener(activity);
  };
  return { session, sandbox, timers, ends, report };
}

test('a quiet session ends idle after its idle timeout, not before', () => {
  const { session, sandbox, timers, ends } = clocked({ idle: 60 });
  timers.started(session, sandbox);
  mock.timers.tick(59_999);
  assert.deepEqual(ends, []);
  mock.timers.tick(1);
  assert.deepEqual(ends, ['idle']);
});

test('an unclaimed session gets the node grace, or its own idle timeout when that is shorter', () => {
  const grace = clocked({ idle: 60, unclaimed: true });
  grace.timers.started(grace.session, grace.sandbox);
  mock.timers.tick(5_000);
  assert.deepEqual(grace.ends, ['unclaimed']);

  const shorter = clocked({ idle: 2, unclaimed: true });
  shorter.timers.started(shorter.session, shorter.sandbox);
  mock.timers.tick(2_000);
  assert.deepEqual(shorter.ends, ['unclaimed']);
});

test('a request in flight keeps a session from idling; its idle time counts from the release', () => {
  const { session, sandbox, timers, ends } = clocked({ idle: 60 });
  timers.started(session, sandbox);
  mock.timers.tick(30_000);
  session.inFlight++;
  timers.claimed(session);
  mock.timers.tick(120_000);
  assert.deepEqual(ends, []);
  session.inFlight--;
  timers.released(session);
  assert.equal(session.lastActiveAt, START + 150_000);
  mock.timers.tick(59_999);
  assert.deepEqual(ends, []);
  mock.timers.tick(1);
  assert.deepEqual(ends, ['idle']);
});

test('a session started with a request in flight arms no idle timer until the request is over', () => {
  const { session, sandbox, timers, ends } = clocked({ idle: 1 });
  session.inFlight = 1;
  timers.started(session, sandbox);
  mock.timers.tick(10_000);
  assert.deepEqual(ends, []);
});

test('a call waiting on its client, or a busy agent, keeps the session from idling until the work ends', () => {
  const { session, sandbox, timers, ends, report } = clocked({ idle: 60 });
  timers.started(session, sandbox);
  mock.timers.tick(10_000);
  report({ waiting: 1 });
  mock.timers.tick(100_000);
  report({ waiting: 0, busy: true });
  mock.timers.tick(100_000);
  assert.deepEqual(ends, []);
  report({ busy: false });
  assert.equal(session.lastActiveAt, START + 210_000);
  mock.timers.tick(60_000);
  assert.deepEqual(ends, ['idle']);
});

test('a session ends at its maximum lifetime, counted from its creation, whatever it is doing', () => {
  const { session, sandbox, timers, ends } = clocked({ lifetime: 10, createdAt: START - 3_000 });
  session.inFlight = 1;
  timers.started(session, sandbox);
  mock.timers.tick(6_999);
  assert.deepEqual(ends, []);
  mock.timers.tick(1);
  assert.deepEqual(ends, ['lifetime']);
});

test('a session whose lifetime ran out while it started ends at once', () => {
  const { session, sandbox, timers, ends } = clocked({ lifetime: 1, createdAt: START - 5_000 });
  timers.started(session, sandbox);
  mock.timers.tick(0);
  assert.deepEqual(ends, ['lifetime']);
});

test('a stopped session hears none of its timers', () => {
  const { session, sandbox, timers, ends } = clocked({ idle: 1, lifetime: 2 });
  timers.started(session, sandbox);
  timers.stop(session);
  mock.timers.tick(10_000);
  assert.deepEqual(ends, []);
});
