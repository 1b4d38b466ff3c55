import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRuntimeName, checkSessionId, mintSessionId, randomId } from './ids.ts';
import { isBerthError } from './errors.ts';

test('session ids follow AgentCore length rule', () => {
  assert.equal(checkSessionId('a'.repeat(33)), 'a'.repeat(33));
  assert.equal(checkSessionId('b'.repeat(256)), 'b'.repeat(256));
  for (const bad of ['a'.repeat(32), 'a'.repeat(257), `${'a'.repeat(40)} x`, `${'a'.repeat(40)}\n`]) {
    assert.throws(
      () => checkSessionId(bad),
      (err) => isBerthError(err) && err.code === 'invalid_session_id' && err.status === 400,
    );
  }
});

test('minted session ids are valid and distinct', () => {
  const a = mintSessionId();
  assert.equal(checkSessionId(a), a);
  assert.notEqual(a, mintSessionId());
});

test('runtime names', () => {
  assert.equal(checkRuntimeName('weather-mcp_2'), 'weather-mcp_2');
  for (const bad of ['', '1abc', 'a b', 'a/b', 'x'.repeat(49)]) {
    assert.throws(() => checkRuntimeName(bad), /runtime name/);
  }
});

test('random ids have prefix and base32 body', () => {
  assert.match(randomId('sbx'), /^sbx_[a-z2-7]{12}$/);
});
