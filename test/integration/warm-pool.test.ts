/**
 * Warm pools (issue 17): a runtime deployed with `warmPool: {size: N}` keeps N sandboxes of its current version
 * started on the node. A new session takes a ready one, which no other session is ever handed and which carries
 * nothing of any earlier session; the pool fills again; a new version replaces it; it stays within the node's
 * session cap; and it is shown with its runtime.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

interface PoolView {
  size: number;
  ready: number;
  version: number;
}

describe('warm pools', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let counter: string;
  before(async () => {
    node = await startBerth({ env: { BERTH_MAX_SESSIONS: '6' } });
    counter = await fixtureDir('counter-server');
  });
  after(async () => {
    await node?.stop();
  });

  const pool = async (runtime: string): Promise<PoolView | undefined> =>
    ((await (await node.admin(`/v1/runtimes/${runtime}`)).json()) as { warmPool?: PoolView }).warmPool;
  const call = async (runtime: string, session: string, tool: string, args: Record<string, unknown> = {}): Promise<unknown> => {
    const answer = await rawCall(node.url, runtime, 'tools/call', tool, args, { sessionId: session });
    assert.equal(answer.status, 200, JSON.stringify(answer.response));
    return toolText(answer);
  };

  test('a new session takes a ready sandbox, each once, fresh, and the pool fills again', async () => {
    await deploy(node, 'pooled', counter, { transport: 'stdio', warmPool: { size: 2 } });
    await waitFor(async () => (await pool('pooled'))?.ready === 2, 'the pool to fill');
    assert.deepEqual(await pool('pooled'), { size: 2, ready: 2, version: 1 });

    const first = randomUUID();
    const second = randomUUID();
    // The server a new session reaches was running before the session's first request: it came from the pool.
    const asked = Date.now();
    const { startedAt } = (await call('pooled', randomUUID(), 'stats')) as { startedAt: number };
    assert.ok(startedAt < asked, `the server started ${asked - startedAt} ms before the session asked`);
    await waitFor(async () => (await pool('pooled'))?.ready === 2, 'the pool to fill again');
    const [a, b] = await Promise.all([call('pooled', first, 'write_file', { name: 'mine.txt', content: 'first' }), call('pooled', second, 'increment')]);
    assert.ok(a && b);
    assert.deepEqual(await call('pooled', first, 'list_files'), { ok: true, value: ['mine.txt'] });
    assert.deepEqual(await call('pooled', second, 'list_files'), { ok: true, value: [] }, "two sessions, two sandboxes: one's files are not the other's");
    assert.deepEqual(await call('pooled', second, 'increment'), { count: 2 }, 'the session keeps its own state');
    await waitFor(async () => (await pool('pooled'))?.ready === 2, 'the pool to fill again');

    // A session that ends takes its sandbox with it: the next one is another, with nothing of the first.
    assert.equal((await node.admin(`/v1/sessions/${first}`, { method: 'DELETE' })).status, 200);
    const third = randomUUID();
    assert.deepEqual(await call('pooled', third, 'list_files'), { ok: true, value: [] });
    assert.deepEqual(await call('pooled', third, 'increment'), { count: 1 });
    for (const session of [second, third]) await node.admin(`/v1/sessions/${session}`, { method: 'DELETE' });
    await deploy(node, 'pooled', counter, { transport: 'stdio', warmPool: { size: 0 } });
    await waitFor(async () => (await pool('pooled')) === undefined, 'the pool to go with a version that keeps none');
  });

  test('a new version replaces the pool; the pool never holds the node past its session cap', async () => {
    await deploy(node, 'replaced', counter, { transport: 'stdio', warmPool: { size: 1 } });
    await waitFor(async () => (await pool('replaced'))?.ready === 1, 'the first pool');
    await deploy(node, 'replaced', counter, { transport: 'stdio', warmPool: { size: 1 }, env: { VERSION_MARK: 'two' } });
    await waitFor(async () => (await pool('replaced'))?.version === 2 && (await pool('replaced'))?.ready === 1, 'the pool of version 2');
    const session = randomUUID();
    await call('replaced', session, 'increment');
    assert.equal(((await (await node.admin(`/v1/sessions/${session}`)).json()) as { version: number }).version, 2);

    // The node holds 6 sandboxes at most (its session cap): pools fill only into the room left.
    await deploy(node, 'greedy', counter, { transport: 'stdio', warmPool: { size: 10 } });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const live = (await node.api.sessions()).length;
    const pooled = ((await pool('pooled'))?.ready ?? 0) + ((await pool('replaced'))?.ready ?? 0) + ((await pool('greedy'))?.ready ?? 0);
    assert.ok(live + pooled <= 6, `${live} sessions and ${pooled} pooled sandboxes within the cap of 6`);
    assert.ok(((await pool('greedy'))?.ready ?? 0) >= 1, 'the pool took the room there was');
    // Dropping a pool (size 0) stops its sandboxes.
    await deploy(node, 'greedy', counter, { transport: 'stdio', warmPool: { size: 0 } });
    await waitFor(async () => (await pool('greedy')) === undefined, 'the pool to go');
  });

  test("a pooled http agent is told each request's session and user, as one started for the session is", async () => {
    const agent = await fixtureDir('http-agent');
    const spec = { protocol: 'http', transport: 'http', port: 8080, command: 'node server.js', authorizer: { type: 'apiKey' } } as const;
    await deploy(node, 'pooled-agent', agent, { ...spec, warmPool: { size: 1 } });
    await waitFor(async () => (await pool('pooled-agent'))?.ready === 1, 'the pool to fill');
    const made = await node.admin('/v1/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ runtime: 'pooled-agent', user: 'carol' }),
    });
    const { key } = (await made.json()) as { key: string };
    const session = randomUUID();
    const response = await fetch(`${node.url}/runtimes/pooled-agent/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-amzn-bedrock-agentcore-runtime-session-id': session },
      body: JSON.stringify({ action: 'echo' }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const { headers } = (await response.json()) as { headers: Record<string, string> };
    assert.equal(headers['x-amzn-bedrock-agentcore-runtime-session-id'], session);
    assert.equal(headers['x-amzn-bedrock-agentcore-runtime-user-id'], 'carol');
    assert.equal(headers.authorization, undefined, "the caller's credentials stay at the edge");
    await node.admin(`/v1/sessions/${session}`, { method: 'DELETE' });
    await deploy(node, 'pooled-agent', agent, spec);
  });

  test('the warmup hook runs once in each sandbox before it takes a session, pooled or not; one that fails keeps the sandbox from any session', async () => {
    const agent = await fixtureDir('http-agent');
    const spec = { protocol: 'http', transport: 'http', port: 8080, command: 'node server.js', warmup: { path: '/warmup' } } as const;
    const warmups = async (runtime: string, session: string): Promise<Response> =>
      fetch(`${node.url}/runtimes/${runtime}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amzn-bedrock-agentcore-runtime-session-id': session },
        body: JSON.stringify({ action: 'warmups' }),
      });
    await deploy(node, 'warmed', agent, { ...spec, env: { WARMUP_MS: '300' }, warmPool: { size: 1 } });
    await waitFor(async () => (await pool('warmed'))?.ready === 1, 'the pool to fill');
    const pooled = randomUUID();
    const asked = Date.now();
    const answer = await warmups('warmed', pooled);
    assert.equal(answer.status, 200, await answer.clone().text());
    const seen = (await answer.json()) as { warmups: number; warmedAt: number; startedAt: number };
    assert.equal(seen.warmups, 1, 'the hook ran once in the pooled sandbox');
    assert.ok(seen.warmedAt < asked, 'and before the session asked');
    assert.ok(seen.warmedAt - seen.startedAt >= 300, 'the sandbox was ready only once the hook had answered');

    // Without a pool, a new session's sandbox runs the hook before its first request reaches the agent.
    await deploy(node, 'warmed', agent, { ...spec, env: { WARMUP_MS: '300' } });
    await waitFor(async () => (await pool('warmed')) === undefined, 'the pool to go');
    const cold = randomUUID();
    const first = (await (await warmups('warmed', cold)).json()) as { warmups: number };
    assert.equal(first.warmups, 1);
    assert.equal(((await (await warmups('warmed', cold)).json()) as { warmups: number }).warmups, 1, 'once per sandbox, not per request');

    // A hook answered 503 fails the start, saying so; the pool keeps no sandbox that failed it.
    await deploy(node, 'cold-hook', agent, { ...spec, env: { WARMUP_STATUS: '503' }, warmPool: { size: 1 } });
    const refused = await warmups('cold-hook', randomUUID());
    assert.equal(refused.status, 502);
    assert.match(await refused.text(), /warmup hook \(POST \/warmup on port 8080\) answered 503/);
    assert.equal((await pool('cold-hook'))?.ready, 0);
    for (const session of [pooled, cold]) await node.admin(`/v1/sessions/${session}`, { method: 'DELETE' });
    await deploy(node, 'cold-hook', agent, spec);
  });

  test("a pooled sandbox's server has answered one server/discover before its session's first request, though its revision is known", async () => {
    const minimal = await fixtureDir('minimal-server');
    const spec = { transport: 'stdio', serverEra: 'modern', command: 'node server.js stdio' } as const;
    await deploy(node, 'primed', minimal, { ...spec, warmPool: { size: 1 } });
    await waitFor(async () => (await pool('primed'))?.ready === 1, 'the pool to fill');
    const pooled = randomUUID();
    assert.deepEqual(await call('primed', pooled, 'discovers'), { discovers: 1 });
    // A sandbox started for its session asks nothing it need not: the revision is known.
    await deploy(node, 'primed', minimal, spec);
    await waitFor(async () => (await pool('primed')) === undefined, 'the pool to go');
    const cold = randomUUID();
    assert.deepEqual(await call('primed', cold, 'discovers'), { discovers: 0 });
    for (const session of [pooled, cold]) await node.admin(`/v1/sessions/${session}`, { method: 'DELETE' });
  });

  test('a warmup hook is checked at deploy', async () => {
    for (const warmup of [{ path: 'warmup' }, { path: '/warmup', port: 0 }, { path: '/warmup', method: 'GET' }, { path: '/warm up' }]) {
      const refused = await node.admin('/v1/runtimes/bad-hook', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ artifactId: 'art_aaaa', command: 'node server.js', warmup }),
      });
      assert.equal(refused.status, 400, JSON.stringify(warmup));
      assert.match(((await refused.json()) as { error: { message: string } }).error.message, /warmup/);
    }
  });

  test('a warm pool size is checked at deploy', async () => {
    for (const size of [-1, 1.5, 1001, '2']) {
      const refused = await node.admin('/v1/runtimes/bad-pool', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ artifactId: 'art_aaaa', command: 'node server.js', warmPool: { size } }),
      });
      assert.equal(refused.status, 400, String(size));
      assert.match(((await refused.json()) as { error: { message: string } }).error.message, /warmPool\.size/);
    }
  });
});
