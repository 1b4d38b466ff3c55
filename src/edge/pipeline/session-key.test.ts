import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inboundOf } from '../../core/inbound.ts';
import { ANONYMOUS } from '../auth/principal.ts';
import { admittedCaller, type Caller } from './caller.ts';
import { namedSession, requiredSession, sessionKey } from './session-key.ts';

const HEADER = 'x-amzn-bedrock-agentcore-runtime-session-id';
const A = 'a'.repeat(36);
const B = 'b'.repeat(36);

function caller(header?: string, inUrl?: string): Caller {
  const url = new URL('http://berth/runtimes/r/mcp');
  const request = new Request(url, { method: 'POST', headers: header === undefined ? {} : { [HEADER]: header } });
  return admittedCaller({
    door: 'berth',
    inbound: inboundOf(request, url),
    params: inUrl === undefined ? { name: 'r' } : { name: 'r', sessionId: inUrl },
    runtime: 'r',
    endpoint: undefined,
    principal: ANONYMOUS,
    resolved: undefined,
  });
}

const never = (): string => assert.fail('no fresh session was wanted');

test('the header, else the URL, else a fresh session', () => {
  assert.equal(sessionKey(caller(A), { fresh: never }), A);
  assert.equal(sessionKey(caller(undefined, B), { fresh: never }), B);
  assert.equal(sessionKey(caller(A, A), { fresh: never }), A, 'the same in both is fine');
  assert.equal(sessionKey(caller(), { fresh: () => 'minted' }), 'minted');
});

test("a requestState's session wins, and the request may name no other", () => {
  assert.equal(sessionKey(caller(), { stateSession: B, fresh: never }), B);
  assert.equal(sessionKey(caller(B), { stateSession: B, fresh: never }), B);
  assert.throws(() => sessionKey(caller(A), { stateSession: B, fresh: never }), { code: 'request_state_mismatch' });
});

test('header and URL that differ, and ids that are not session ids, are refused', () => {
  assert.throws(() => namedSession(caller(A, B)), { code: 'invalid_session_id' });
  assert.throws(() => namedSession(caller('short')), { code: 'invalid_session_id' });
  assert.throws(() => namedSession(caller(`${A} x`)), { code: 'invalid_session_id' });
  assert.throws(() => namedSession(caller(undefined, 'x'.repeat(300))), { code: 'invalid_session_id' });
});

test('a door that needs a named session says which header to send', () => {
  assert.equal(requiredSession(caller(A), 'StopRuntimeSession'), A);
  assert.throws(
    () => requiredSession(caller(), 'StopRuntimeSession'),
    (error: Error & { code?: string }) =>
      error.code === 'validation_failed' && error.message.includes(HEADER) && error.message.startsWith('StopRuntimeSession'),
  );
});
