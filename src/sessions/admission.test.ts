import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBerthError } from '../core/errors.ts';
import { Admission, type AdmissionOptions, type ShedReason } from './admission.ts';

const MB = 1024 * 1024;

function admission(options: Partial<AdmissionOptions> = {}): { gate: Admission; shed: ShedReason[] } {
  const shed: ShedReason[] = [];
  const gate = new Admission({
    maxStarting: 2,
    startQueue: 2,
    startQueueWaitMs: 10_000,
    minFreeMemoryBytes: 100 * MB,
    availableMemory: () => 10_000 * MB,
    onShed: (reason) => shed.push(reason),
    ...options,
  });
  return { gate, shed };
}

/** A start that finishes when told to. */
function pendingStart(): { run: () => Promise<string>; finish: (value: string) => void; fail: (error: Error) => void; started: () => boolean } {
  let finish: (value: string) => void = () => {};
  let fail: (error: Error) => void = () => {};
  let started = false;
  const result = new Promise<string>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    run: () => {
      started = true;
      return result;
    },
    finish: (value) => finish(value),
    fail: (error) => fail(error),
    started: () => started,
  };
}

const overloaded = (retryAfter: number) => (error: unknown) =>
  isBerthError(error) && error.code === 'overloaded' && error.status === 503 && error.retryAfter === retryAfter;
const tick = () => new Promise((resolve) => setImmediate(resolve));

test("starts run up to the limit at once; the next waits its turn and takes a finished start's slot, in order", async () => {
  const { gate } = admission();
  const starts = [pendingStart(), pendingStart(), pendingStart(), pendingStart()];
  const results = starts.map((start) => gate.start(start.run));
  await tick();
  assert.deepEqual(
    starts.map((start) => start.started()),
    [true, true, false, false],
  );
  assert.deepEqual(gate.load, { starting: 2, waiting: 2 });
  starts[1]?.finish('b');
  assert.equal(await results[1], 'b');
  await tick();
  assert.deepEqual(
    starts.map((start) => start.started()),
    [true, true, true, false],
  );
  // A failed start gives its slot back too.
  starts[0]?.fail(new Error('server exited'));
  await assert.rejects(results[0] as Promise<string>, /server exited/);
  await tick();
  assert.equal(starts[3]?.started(), true);
  starts[2]?.finish('c');
  starts[3]?.finish('d');
  assert.deepEqual(await Promise.all(results.slice(2)), ['c', 'd']);
  assert.deepEqual(gate.load, { starting: 0, waiting: 0 });
});

test('a full queue refuses at once with 503 and Retry-After, counted as shed', async () => {
  const { gate, shed } = admission({ maxStarting: 1, startQueue: 1 });
  const first = pendingStart();
  const second = pendingStart();
  const running = gate.start(first.run);
  const waiting = gate.start(second.run);
  await assert.rejects(gate.start(pendingStart().run), overloaded(2));
  assert.deepEqual(shed, ['start_queue_full']);
  first.finish('a');
  second.finish('b');
  assert.deepEqual(await Promise.all([running, waiting]), ['a', 'b']);
});

test('a wait past its limit is refused and leaves the queue; the slot goes to the next in line', async () => {
  const { gate, shed } = admission({ maxStarting: 1, startQueue: 4, startQueueWaitMs: 50 });
  const first = pendingStart();
  const running = gate.start(first.run);
  const late = pendingStart();
  await assert.rejects(gate.start(late.run), (error: unknown) => overloaded(2)(error) && /BERTH_START_QUEUE_WAIT_MS/.test((error as Error).message));
  assert.deepEqual(shed, ['start_queue_timeout']);
  assert.deepEqual(gate.load, { starting: 1, waiting: 0 });
  const next = pendingStart();
  const queued = gate.start(next.run);
  first.finish('a');
  await running;
  await tick();
  assert.equal(late.started(), false);
  assert.equal(next.started(), true);
  next.finish('n');
  assert.equal(await queued, 'n');
});

test('below the memory floor, counting the starts under way, new sessions are refused before anything starts', async () => {
  let available = 250 * MB;
  const { gate, shed } = admission({ availableMemory: () => available, maxStarting: 4 });
  const running = [pendingStart(), pendingStart()];
  const results = running.map((start) => gate.start(start.run));
  await tick();
  // 250 MB less two starts' estimate (64 MB each) still clears the 100 MB floor; a third start would not.
  gate.checkMemory();
  const refused = pendingStart();
  await assert.rejects(gate.start(refused.run), (error: unknown) => overloaded(10)(error) && /BERTH_MIN_FREE_MEMORY_MB/.test((error as Error).message));
  assert.equal(refused.started(), false);
  assert.deepEqual(gate.load, { starting: 2, waiting: 0 });
  // A reading stands for a moment; the next one sees the host's memory fall.
  available = 200 * MB;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.throws(() => gate.checkMemory(), overloaded(10));
  assert.deepEqual(shed, ['memory', 'memory']);
  for (const start of running) start.finish('m');
  await Promise.all(results);
  gate.checkMemory();
});

test('an unreadable memory figure checks nothing', () => {
  const { gate } = admission({ availableMemory: () => undefined });
  gate.checkMemory();
});

test('work that may wait takes a start slot only when one is free and no session waits for one', async () => {
  const { gate, shed } = admission();
  const first = pendingStart();
  const second = pendingStart();
  const spare = gate.startSpare(first.run);
  assert.ok(spare && first.started(), 'a free slot: it runs');
  const busy = gate.start(second.run);
  const queued = pendingStart();
  const waiting = gate.start(queued.run);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(second.started() && !queued.started(), 'both slots taken; a session waits');
  assert.equal(
    gate.startSpare(() => Promise.resolve('never')),
    undefined,
    'no slot, and a session waits: nothing runs',
  );
  first.finish('pooled');
  assert.equal(await spare, 'pooled');
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(queued.started(), "the spare work's slot went to the waiting session");
  second.finish('a');
  queued.finish('b');
  assert.deepEqual(await Promise.all([busy, waiting]), ['a', 'b']);
  assert.deepEqual(shed, [], 'none of it is load shed');
});
