import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inboundOf } from '../../core/inbound.ts';
import { BerthError } from '../../core/errors.ts';
import { ANONYMOUS } from '../auth/principal.ts';
import { admittedCaller } from './caller.ts';
import { doorError } from './door-errors.ts';

const caller = (door: 'berth' | 'agentcore') => {
  const url = new URL('http://berth/runtimes/r/mcp');
  return admittedCaller({
    door,
    inbound: inboundOf(new Request(url, { method: 'POST' }), url),
    params: { name: 'r' },
    runtime: 'r',
    endpoint: undefined,
    principal: ANONYMOUS,
    resolved: undefined,
  });
};

test("berth's door answers in the endpoint's own shape", () => {
  const answer = doorError(caller('berth'), new BerthError('session_limit', 'full'), (error) => new Response(error.code, { status: error.status }));
  assert.equal(answer.status, 429);
});

test("AgentCore's door gets the error itself, for its exception, not a body to parse back", () => {
  assert.throws(() => doorError(caller('agentcore'), new BerthError('session_limit', 'full'), () => assert.fail('not rendered here')), {
    code: 'session_limit',
  });
  assert.throws(() => doorError(caller('agentcore'), new TypeError('a bug'), () => assert.fail('not rendered here')), { code: 'internal' });
});
