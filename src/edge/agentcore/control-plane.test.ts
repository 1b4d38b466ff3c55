/**
 * AgentCore's control plane on bodies and failures its SDK never produces (found by the fuzzer,
 * test/security/hostile/fuzz.test.ts): a body nested thousands deep is refused as a ValidationException before
 * anything walks it, and a failure that is not berth's own is logged where its answer says the cause is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RuntimeService } from '../../control/runtimes.ts';
import { createLogger } from '../../observability/logger.ts';
import type { WebRoute } from '../../core/router.ts';
import { toResponse } from '../../core/answer.ts';
import { controlPlaneRoutes } from './control-plane.ts';

function routesWith(runtimes: Partial<RuntimeService>): { routes: WebRoute[]; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'text', write: (line) => lines.push(line) });
  // SAFETY: each test's route reaches the runtime service only through the members given.
  const routes = controlPlaneRoutes({
    runtimes: runtimes as RuntimeService,
    identity: { region: 'us-west-2', accountId: '123456789012' },
    auth: { mode: 'off', secrets: new Map() },
    logger,
  });
  return { routes, lines };
}

async function call(routes: WebRoute[], method: string, pattern: string, path: string, params: Record<string, string>, body?: string): Promise<Response> {
  const route = routes.find((r) => r.method === method && r.pattern === pattern);
  assert.ok(route, `${method} ${pattern}`);
  const url = new URL(`http://berth${path}`);
  return toResponse(await route.handler(new Request(url, { method, ...(body === undefined ? {} : { body }) }), params, url));
}

test('a body nested 5 000 deep, with a clientToken, is a ValidationException before anything walks it (it was a silent 500)', async () => {
  let reached = false;
  const { routes, lines } = routesWith({
    getByIdOrName: () => {
      reached = true;
      throw new Error('the runtime service was reached');
    },
  });
  const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
  const answer = await call(
    routes,
    'PUT',
    '/runtimes/:runtimeId/runtime-endpoints',
    '/runtimes/r-1/runtime-endpoints/',
    { runtimeId: 'r-1' },
    `{"name":"one","description":${deep},"clientToken":"token-1"}`,
  );
  assert.equal(answer.status, 400);
  assert.equal(answer.headers.get('x-amzn-errortype'), 'ValidationException');
  assert.match(((await answer.json()) as { message: string }).message, /nests more than 64 levels/);
  assert.equal(reached, false);
  assert.deepEqual(lines, []);
});

test("a failure that is not berth's own answers InternalServerException and is logged", async () => {
  const { routes, lines } = routesWith({
    getByIdOrName: () => {
      throw new Error('the store went away');
    },
  });
  const answer = await call(routes, 'GET', '/runtimes/:runtimeId', '/runtimes/r-1', { runtimeId: 'r-1' });
  assert.equal(answer.status, 500);
  assert.equal(answer.headers.get('x-amzn-errortype'), 'InternalServerException');
  assert.equal(lines.length, 1);
  assert.match(lines[0] as string, /error request failed method=GET path=\/runtimes\/r-1 err="Error: the store went away"/);
});
