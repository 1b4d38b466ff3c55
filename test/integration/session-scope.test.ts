/**
 * `sessionScope: principal` on a real node: a caller who sends no session id lands in their own session every time
 * (a modern raw client, a stock legacy SDK client that reconnects, an http agent), another principal in theirs; an
 * explicit session id still wins; a stopped session is made again under the same id, empty. Without an authorizer
 * the option is refused: every caller would be the same anonymous principal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';

describe('sessions that follow the caller', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  const keys: Record<string, string> = {};

  before(async () => {
    node = await startBerth();
    await deploy(node, 'follows', await fixtureDir('counter-server'), { transport: 'stdio', authorizer: { type: 'apiKey' }, sessionScope: 'principal' });
    await deploy(node, 'follows-agent', await fixtureDir('http-agent'), {
      protocol: 'http',
      transport: 'http',
      port: 8080,
      authorizer: { type: 'apiKey' },
      sessionScope: 'principal',
    });
    for (const [runtime, user] of [
      ['follows', 'alice'],
      ['follows', 'bob'],
      ['follows-agent', 'alice'],
    ] as const) {
      const response = await node.admin('/v1/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ runtime, user }),
      });
      keys[`${runtime}/${user}`] = ((await response.json()) as { key: string }).key;
    }
  });
  after(() => node?.stop());

  const increment = (user: string, sessionId?: string) =>
    rawCall(
      node.url,
      'follows',
      'tools/call',
      'increment',
      {},
      { headers: { authorization: `Bearer ${keys[`follows/${user}`]}` }, ...(sessionId ? { sessionId } : {}) },
    );

  test('a modern client that sends no session id keeps its state; another principal has its own', async () => {
    const first = await increment('alice');
    const second = await increment('alice');
    assert.deepEqual([toolText(first), toolText(second)], [{ count: 1 }, { count: 2 }]);
    const aliceSession = first.headers.get(SESSION_HEADER) as string;
    assert.equal(second.headers.get(SESSION_HEADER), aliceSession);
    assert.match(aliceSession, /^principal-[A-Za-z0-9_-]{43}$/);

    const bob = await increment('bob');
    assert.deepEqual(toolText(bob), { count: 1 });
    assert.notEqual(bob.headers.get(SESSION_HEADER), aliceSession);
    assert.equal((await increment('bob', aliceSession)).status, 404, "bob cannot name alice's session either");

    // An explicit session id still wins: a second session of alice's, beside her own.
    const explicit = await increment('alice', crypto.randomUUID());
    assert.deepEqual(toolText(explicit), { count: 1 });
    assert.deepEqual(toolText(await increment('alice')), { count: 3 });

    // Stopped, her session is made again under the same id, and empty.
    assert.equal((await node.admin(`/v1/sessions/${aliceSession}`, { method: 'DELETE' })).status, 200);
    const fresh = await increment('alice');
    assert.equal(fresh.headers.get(SESSION_HEADER), aliceSession);
    assert.deepEqual(toolText(fresh), { count: 1 });
  });

  test("nobody else can make a caller's own session first, on this runtime or any other", async () => {
    await deploy(node, 'open-door', await fixtureDir('counter-server'), { transport: 'stdio' });
    const own = (await increment('alice')).headers.get(SESSION_HEADER) as string;
    assert.equal((await node.admin(`/v1/sessions/${own}`, { method: 'DELETE' })).status, 200);
    const squat = await rawCall(node.url, 'open-door', 'tools/call', 'increment', {}, { sessionId: own });
    assert.equal(squat.status, 404, 'an anonymous caller of an open runtime cannot take the id');
    assert.equal((await increment('bob', own)).status, 404, 'nor can another principal of the same runtime');
    assert.equal(
      (await rawCall(node.url, 'open-door', 'tools/call', 'increment', {}, { sessionId: `principal-${'x'.repeat(43)}` })).status,
      404,
      'nor any id of that form',
    );
    const back = await increment('alice');
    assert.equal(back.status, 200);
    assert.equal(back.headers.get(SESSION_HEADER), own);
  });

  test('stock legacy clients find their state: one that reconnects, and two at once that share it', async () => {
    const connect = async (): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> => {
      const client = new Client({ name: 'desktop-app', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`${node.url}/runtimes/follows/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${keys['follows/bob']}` } },
      });
      await client.connect(transport);
      return { client, transport };
    };
    const count = async (client: Client): Promise<number> =>
      (JSON.parse(((await client.callTool({ name: 'increment', arguments: {} })).content as Array<{ text: string }>)[0]?.text ?? 'null') as { count: number })
        .count;
    const start = (toolText(await increment('bob')) as { count: number }).count;
    const first = await connect();
    assert.equal(await count(first.client), start + 1);
    await first.transport.terminateSession();
    await first.client.close();
    // A DELETE leaves the principal's own session, which stays for its next client until it idles out.
    const second = await connect();
    assert.equal(await count(second.client), start + 2, 'a reconnecting client finds its state');

    // A second window of the same user: its own Mcp-Session-Id, the same session; neither takes the other's calls.
    const third = await connect();
    assert.notEqual(third.transport.sessionId, second.transport.sessionId);
    assert.equal(await count(third.client), start + 3);
    assert.equal(await count(second.client), start + 4);
    await third.transport.terminateSession();
    await third.client.close();
    assert.equal(await count(second.client), start + 5, "one window's DELETE does not end the session the other is in");
    await second.transport.terminateSession();
    await second.client.close();
    assert.equal(
      (
        (await rawCall(node.url, 'follows', 'tools/call', 'increment', {}, { headers: { authorization: `Bearer ${keys['follows/bob']}` } }).then(toolText)) as {
          count: number;
        }
      ).count,
      start + 6,
    );
  });

  test('an http agent invoked with no session id keeps its state too', async () => {
    const invoke = async (): Promise<Response> =>
      fetch(`${node.url}/runtimes/follows-agent/invocations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys['follows-agent/alice']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'increment' }),
      });
    const first = await invoke();
    assert.deepEqual(await first.json(), { count: 1 });
    const second = await invoke();
    assert.deepEqual(await second.json(), { count: 2 });
    assert.equal(second.headers.get(SESSION_HEADER), first.headers.get(SESSION_HEADER));
    const sessions = (await node.api.sessions('follows-agent')).map((s) => s.id);
    assert.deepEqual(sessions, [first.headers.get(SESSION_HEADER)]);
  });

  test('without an authorizer the option is refused, saying why', async () => {
    const refused = /sessionScope principal needs an authorizer that names its callers \(apiKey or jwt\)/;
    await assert.rejects(deploy(node, 'open-follows', await fixtureDir('counter-server'), { transport: 'stdio', sessionScope: 'principal' }), refused);
    await assert.rejects(
      deploy(node, 'signed-follows', await fixtureDir('counter-server'), { transport: 'stdio', sessionScope: 'principal', authorizer: { type: 'sigv4' } }),
      refused,
    );
  });
});
