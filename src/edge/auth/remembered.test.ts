import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Remembered } from './remembered.ts';

/** A loader whose outcome the test sets, counting its calls, on a clock the test moves. */
function rig(ttlMs = 60_000, failureTtlMs = 30_000) {
  const state = { now: 0, loads: 0, fail: false as boolean, value: 'v1' };
  const remembered = new Remembered(
    async () => {
      state.loads++;
      if (state.fail) throw new Error('issuer down');
      return state.value;
    },
    { ttlMs, failureTtlMs, now: () => state.now },
  );
  return { state, remembered };
}

test('concurrent and repeated asks load once while the value is fresh', async () => {
  const { state, remembered } = rig();
  const values = await Promise.all(Array.from({ length: 50 }, () => remembered.get()));
  assert.ok(values.every((value) => value === 'v1'));
  state.now = 59_999;
  assert.equal(await remembered.get(), 'v1');
  assert.equal(state.loads, 1);
  state.now = 60_000;
  state.value = 'v2';
  assert.equal(await remembered.get(), 'v2');
  assert.equal(state.loads, 2);
});

test('a failure is the answer for its period: 50 asks, one load; then it is tried again', async () => {
  const { state, remembered } = rig();
  state.fail = true;
  for (let i = 0; i < 50; i++) await assert.rejects(remembered.get(), /issuer down/);
  assert.equal(state.loads, 1);
  state.now = 12_500;
  assert.equal(remembered.retryAfterSeconds(), 18);
  state.now = 30_000;
  state.fail = false;
  assert.equal(await remembered.get(), 'v1');
  assert.equal(state.loads, 2);
});

test('once had, a value outlives a failed reload, and the failure still holds off more loads', async () => {
  const { state, remembered } = rig();
  assert.equal(await remembered.get(), 'v1');
  state.now = 60_000;
  state.fail = true;
  assert.equal(await remembered.get(), 'v1', 'the stale value answers the ask whose reload failed');
  for (let i = 0; i < 20; i++) assert.equal(await remembered.get(), 'v1');
  assert.equal(state.loads, 2);
});

test('reload loads only when the last attempt is old enough and no failure is remembered', async () => {
  const { state, remembered } = rig();
  await remembered.get();
  assert.equal(remembered.reload(1_000), undefined, 'too soon');
  state.now = 1_000;
  state.value = 'v2';
  assert.equal(await remembered.reload(1_000), 'v2');
  state.now = 2_000;
  state.fail = true;
  assert.equal(await remembered.reload(1_000), 'v2', 'a failed reload keeps the value');
  state.now = 3_000;
  assert.equal(remembered.reload(1_000), undefined, 'the failure holds off reloads for its period');
  state.now = 32_000;
  state.fail = false;
  state.value = 'v3';
  assert.equal(await remembered.reload(1_000), 'v3');
  assert.equal(state.loads, 4);
});
