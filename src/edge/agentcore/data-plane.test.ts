/**
 * InvokeAgentRuntimeCommand on bodies its SDK never sends (found by the fuzzer, test/security/hostile/fuzz.test.ts):
 * a bare JSON value is a ValidationException, before any session is made, not a 500.
 */
import { test } from 'node:test';
import { SessionLeases } from '../pipeline/lease.ts';
import { toResponse } from '../../core/answer.ts';
import assert from 'node:assert/strict';
import type { RuntimeService } from '../../control/runtimes.ts';
import type { Handler } from '../../core/router.ts';
import { createLogger } from '../../observability/logger.ts';
import type { SessionManager } from '../../sessions/manager.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { CallerAdmission } from '../pipeline/admission.ts';
import type { CallerHandler } from '../pipeline/caller.ts';
import { RateLimiter } from '../rate-limit.ts';
import { dataPlaneRoutes } from './data-plane.ts';
import { noTracing } from '../../observability/tracing.ts';

test('a command body that is a bare JSON value (null, a number, a string, an array) is a ValidationException, and no session is made', async () => {
  const lines: string[] = [];
  let acquired = false;
  const unreached: CallerHandler = () => {
    throw new Error('no invocation here');
  };
  const nativeUnreached: Handler = () => {
    throw new Error('no invocation here');
  };
  // SAFETY: the commands route reaches the runtime service, the session manager and the authenticator only through
  // the members given (no authorizer: AgentCore's auth, here off, admits the caller).
  const runtimes = {
    getByIdOrName: () => ({ id: 'counter-0123456789', name: 'counter' }),
    resolve: () => ({ version: { spec: {} }, target: {} }),
  } as unknown as RuntimeService;
  const sessions = {
    acquire: () => {
      acquired = true;
      throw new Error('a session was made');
    },
  } as unknown as SessionManager;
  const admission = new CallerAdmission({
    runtimes,
    identity: { region: 'us-west-2', accountId: '123456789012' },
    aws: { mode: 'off', secrets: new Map() },
    authenticator: {} as Authenticator,
    limiter: new RateLimiter(),
  });
  const routes = dataPlaneRoutes({
    runtimes,
    sessions,
    leases: new SessionLeases(sessions, noTracing),
    admission,
    logger: createLogger({ level: 'debug', format: 'text', write: (line) => lines.push(line) }),
    mcp: unreached,
    invocations: unreached,
    nativeInvocations: nativeUnreached,
  });
  const route = routes.find((r) => r.pattern === '/runtimes/:name/commands');
  assert.ok(route);
  for (const body of ['null', '1', '"echo hi"', '["echo hi"]', 'true']) {
    const url = new URL('http://berth/runtimes/counter-0123456789/commands');
    const request = new Request(url, { method: 'POST', body, headers: { 'x-amzn-bedrock-agentcore-runtime-session-id': 'a'.repeat(36) } });
    const answer = toResponse(await route.handler(request, { name: 'counter-0123456789' }, url));
    assert.equal(answer.status, 400, body);
    assert.equal(answer.headers.get('x-amzn-errortype'), 'ValidationException', body);
    assert.match(((await answer.json()) as { message: string }).message, /must be a JSON object/, body);
  }
  assert.equal(acquired, false);
  assert.deepEqual(lines, []);
});
