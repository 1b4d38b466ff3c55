import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LimitEvent, SandboxLimits } from './driver.ts';
import { LimitLog } from './limit-log.ts';
import { limitEventOf, LimitSampler, type LimitCounters } from './limit-sampler.ts';

const LIMITS: SandboxLimits = { memoryBytes: 96 * 2 ** 20, pids: 24, cpus: 0.5, tmpBytes: 2 ** 20, workspaceBytes: 4 * 2 ** 20, openFiles: 128 };

test('the sampler reports a counter only when it grew, with the totals so far', () => {
  let counters: LimitCounters = {};
  const events: LimitEvent[] = [];
  const sampler = new LimitSampler(
    LIMITS,
    () => counters,
    (event) => events.push(event),
  );
  counters = { cpuThrottled: { periods: 3, usec: 42_000 }, pidsRefused: 0 };
  sampler.stop();
  assert.deepEqual(events, [{ limit: 'cpu', effect: 'throttled', detail: 'held back at its CPU share of 0.5 cores: 3 times, 42 ms in all' }]);
  counters = { cpuThrottled: { periods: 3, usec: 42_000 }, pidsRefused: 2 };
  sampler.stop();
  assert.equal(events.length, 2);
  assert.deepEqual(events[1], { limit: 'pids', effect: 'refused', detail: 'a new process or thread was refused at its limit of 24 (2 refused in all)' });
  // Counters that vanish (the cgroup removed at the end) are no event.
  counters = {};
  sampler.stop();
  assert.equal(events.length, 2);
});

test("the supervisor's figures become berth's words", () => {
  assert.match(limitEventOf({ type: 'limit', limit: 'workspace', used: 4 * 2 ** 20, max: 4 * 2 ** 20 }, LIMITS).detail, /^the workspace is full \(4 of 4 MB\)/);
  assert.equal(limitEventOf({ type: 'limit', limit: 'openFiles', used: 128, max: 128 }, LIMITS).effect, 'refused');
});

test('the log keeps one record per limit and tells listeners of new episodes only', () => {
  const log = new LimitLog();
  const heard: string[] = [];
  log.listen((event) => heard.push(event.limit));
  const cpu: LimitEvent = { limit: 'cpu', effect: 'throttled', detail: 'held back' };
  log.add(cpu);
  log.add({ ...cpu, detail: 'held back more' });
  log.add({ limit: 'workspace', effect: 'refused', detail: 'full' });
  assert.deepEqual(heard, ['cpu', 'workspace'], 'a throttling that goes on is one episode');
  const [first] = log.list();
  assert.equal(first?.count, 2);
  assert.equal(first?.detail, 'held back more', 'the record keeps the latest figures');
});
