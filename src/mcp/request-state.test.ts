import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { argumentsDigest, checkBinding, RequestStateSealer } from './request-state.ts';
import { isBerthError } from '../core/errors.ts';

const binding = {
  session: 's'.repeat(36),
  runtime: 'r',
  principal: 'anonymous',
  method: 'tools/call',
  name: 'deploy',
  digest: argumentsDigest({ env: 'prod' }),
};

test('a sealed state opens to its binding and inner state, and hides both', () => {
  const sealer = new RequestStateSealer(randomBytes(32));
  const token = sealer.seal(binding, 'server-state-123', 60_000);
  assert.ok(!token.includes('server-state-123') && !token.includes('deploy'));
  const opened = sealer.open(token);
  assert.equal(opened.inner, 'server-state-123');
  assert.equal(opened.session, binding.session);
  checkBinding(opened, { runtime: 'r', principal: 'anonymous', method: 'tools/call', name: 'deploy', digest: argumentsDigest({ env: 'prod' }) });
});

test('tampered, truncated, foreign and expired states are refused with their own codes', () => {
  const sealer = new RequestStateSealer(randomBytes(32));
  const token = sealer.seal(binding, undefined, 60_000);
  const flipped = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
  for (const bad of [flipped, token.slice(0, -4), 'not-a-state', new RequestStateSealer(randomBytes(32)).seal(binding, undefined, 60_000)]) {
    assert.throws(
      () => sealer.open(bad),
      (e) => isBerthError(e) && e.code === 'request_state_invalid',
    );
  }
  const old = sealer.seal(binding, undefined, 1000, Date.now() - 5000);
  assert.throws(
    () => sealer.open(old),
    (e) => isBerthError(e) && e.code === 'request_state_expired',
  );
});

test('a state is only good for the request it was issued for', () => {
  const sealer = new RequestStateSealer(randomBytes(32));
  const opened = sealer.open(sealer.seal(binding, undefined, 60_000));
  const expected = { runtime: 'r', principal: 'anonymous', method: 'tools/call', name: 'deploy', digest: binding.digest };
  for (const other of [
    { runtime: 'other' },
    { principal: 'mallory' },
    { name: 'destroy' },
    { method: 'prompts/get' },
    { digest: argumentsDigest({ env: 'dev' }) },
  ]) {
    assert.throws(
      () => checkBinding(opened, { ...expected, ...other }),
      (e) => isBerthError(e) && e.code === 'request_state_mismatch',
    );
  }
});

test('argument digests ignore key order', () => {
  assert.equal(argumentsDigest({ a: 1, b: { c: [1, { d: 2, e: 3 }] } }), argumentsDigest({ b: { c: [1, { e: 3, d: 2 }] }, a: 1 }));
  assert.notEqual(argumentsDigest({ a: 1 }), argumentsDigest({ a: 2 }));
});
