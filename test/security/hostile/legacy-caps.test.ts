/**
 * What berth keeps for a session's clients is bounded (issue 13, item 2): a legacy client used to grow berth without
 * end with `resources/subscribe` (300 subscribes of 1 MB URIs added 389 MB; about 1 900 ran berth out of heap).
 * Against a real node with small caps (BERTH_SESSION_MAX_*): subscriptions, listen streams, calls waiting on their
 * clients and legacy clients per session each stop at their cap with limit_exceeded naming the setting, a URI longer
 * than berth keeps is refused, and nothing else of the session is harmed. Every test checks that the node answers
 * and that a bystander session keeps its state.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { BwrapDriver } from '../../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../../helpers/berth.ts';
import { fixtureDir } from '../../helpers/fixtures.ts';
import { rawCall, toolText } from '../../helpers/mcp.ts';
import { waitFor } from '../../helpers/wait.ts';

const CAPS = { subscriptions: 8, listeners: 3, pendingInputs: 2, legacyClients: 2 };
const ELICIT = { elicitation: {} };

function text(result: Record<string, unknown>): string {
  return (result.content as Array<{ text: string }>)[0]?.text ?? '';
}

describe('per-session caps on what berth keeps for clients', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  const bystander = randomUUID();
  let bystanderCount = 0;
  const opened: Array<{ close(): Promise<void> }> = [];
  let aliceKey = '';

  before(async () => {
    node = await startBerth({
      env: {
        BERTH_SESSION_MAX_SUBSCRIPTIONS: String(CAPS.subscriptions),
        BERTH_SESSION_MAX_LISTENERS: String(CAPS.listeners),
        BERTH_SESSION_MAX_PENDING_INPUT: String(CAPS.pendingInputs),
        BERTH_SESSION_MAX_LEGACY_CLIENTS: String(CAPS.legacyClients),
      },
    });
    await deploy(node, 'modern', await fixtureDir('counter-server'), { transport: 'stdio' });
    await deploy(node, 'modern-mrtr', await fixtureDir('conformance-modern'), { transport: 'http', command: 'node server.js http' });
    await deploy(node, 'legacy', await fixtureDir('legacy-counter-server'), { transport: 'http' });
    await deploy(node, 'follows', await fixtureDir('counter-server'), { transport: 'stdio', authorizer: { type: 'apiKey' }, sessionScope: 'principal' });
    const made = await node.admin('/v1/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ runtime: 'follows', user: 'alice' }),
    });
    aliceKey = ((await made.json()) as { key: string }).key;
    for (let i = 0; i < 2; i++)
      bystanderCount = (toolText(await rawCall(node.url, 'modern', 'tools/call', 'increment', {}, { sessionId: bystander })) as { count: number }).count;
    assert.equal(bystanderCount, 2);
  });
  after(async () => {
    for (const client of opened) await client.close().catch(() => {});
    await node?.stop();
  });

  /** The node answers, and the bystander's sandbox still counts on from where it was. */
  async function bystanderUnharmed(): Promise<void> {
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    const next = toolText(await rawCall(node.url, 'modern', 'tools/call', 'increment', {}, { sessionId: bystander })) as { count: number };
    bystanderCount++;
    assert.equal(next.count, bystanderCount, 'the bystander session kept its state');
  }

  async function legacyClient(
    runtime: string,
    options: { onElicit?: () => Promise<void>; headers?: Record<string, string> } = {},
  ): Promise<{ client: Client; transport: StreamableHTTPClientTransport; asked: () => number }> {
    let asked = 0;
    const client = new Client({ name: 'legacy-client', version: '1.0.0' }, { capabilities: ELICIT });
    client.setRequestHandler(ElicitRequestSchema, async () => {
      asked++;
      await options.onElicit?.();
      return { action: 'accept', content: { response: 'yes' } };
    });
    const transport = new StreamableHTTPClientTransport(new URL(`${node.url}/runtimes/${runtime}/mcp`), { requestInit: { headers: options.headers ?? {} } });
    await client.connect(transport);
    opened.push(client);
    return { client, transport, asked: () => asked };
  }

  test('a legacy client subscribes up to the cap and no further; a 1 MB URI is refused; its session goes on', async () => {
    const { client, transport } = await legacyClient('legacy');
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (notification) => {
      updates.push(notification.params.uri);
    });
    // The attack of the issue, scaled down: every 1 MB URI is refused, so none is kept.
    const huge = `file:///${'x'.repeat(1024 * 1024)}`;
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${node.url}/runtimes/legacy/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': transport.sessionId as string,
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: `huge-${i}`, method: 'resources/subscribe', params: { uri: `${huge}${i}` } }),
      });
      assert.equal(response.status, 400);
      const answer = (await response.json()) as { error: { code: number; message: string; data: { code: string } } };
      assert.equal(answer.error.data.code, 'invalid_params');
      assert.match(answer.error.message, /longer than the 8192 berth keeps/);
    }
    await client.subscribeResource({ uri: 'counter://value' });
    for (let i = 1; i < CAPS.subscriptions; i++) await client.subscribeResource({ uri: `counter://other/${i}` });
    await client.subscribeResource({ uri: 'counter://value' });
    await assert.rejects(client.subscribeResource({ uri: 'counter://one-too-many' }), (error: Error) => {
      assert.match(error.message, /limit_exceeded/);
      assert.match(error.message, new RegExp(`more than ${CAPS.subscriptions} resources subscribed.*BERTH_SESSION_MAX_SUBSCRIPTIONS`));
      return true;
    });
    // What the client already has goes on: its calls, and the updates of what it subscribed to.
    assert.equal(text(await client.callTool({ name: 'increment', arguments: {} })), '{"count":1}');
    await waitFor(
      async () => text(await client.callTool({ name: 'stats', arguments: {} })).includes('counter://value'),
      "berth to subscribe on the client's behalf",
    );
    await client.callTool({ name: 'touch', arguments: { uri: 'counter://value' } });
    await waitFor(() => updates.includes('counter://value'), 'the update on the GET stream');
    // Unsubscribing makes room again.
    await client.unsubscribeResource({ uri: 'counter://other/1' });
    await client.subscribeResource({ uri: 'counter://in-its-place' });
    assert.equal(text(await client.callTool({ name: 'increment', arguments: {} })), '{"count":2}');
    await bystanderUnharmed();
  });

  test('listen streams stop at the cap, bridged or passed through, and a closed one makes room', async () => {
    for (const runtime of ['legacy', 'modern']) {
      const sessionId = randomUUID();
      const listen = (id: string, signal?: AbortSignal) =>
        fetch(`${node.url}/runtimes/${runtime}/mcp`, {
          method: 'POST',
          signal,
          headers: {
            'content-type': 'application/json',
            accept: 'text/event-stream',
            'mcp-protocol-version': '2026-07-28',
            'mcp-method': 'subscriptions/listen',
            [SESSION_HEADER]: sessionId,
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id,
            method: 'subscriptions/listen',
            params: {
              _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
              notifications: { toolsListChanged: true },
            },
          }),
        });
      assert.equal((toolText(await rawCall(node.url, runtime, 'tools/call', 'increment', {}, { sessionId })) as { count: number }).count, 1);
      const streams: AbortController[] = [];
      try {
        for (let i = 0; i < CAPS.listeners; i++) {
          const controller = new AbortController();
          streams.push(controller);
          const response = await listen(`listen-${i}`, controller.signal);
          assert.equal(response.status, 200, `${runtime}: stream ${i} opens`);
        }
        const over = await listen('one-too-many');
        assert.equal(over.status, 429, runtime);
        const answer = (await over.json()) as { error: { code: number; message: string; data: { code: string } } };
        assert.equal(answer.error.code, -32600);
        assert.equal(answer.error.data.code, 'limit_exceeded');
        assert.match(answer.error.message, /BERTH_SESSION_MAX_LISTENERS/);
        streams.shift()?.abort();
        await waitFor(async () => {
          const controller = new AbortController();
          const response = await listen('in-its-place', controller.signal);
          if (response.status !== 200) return false;
          streams.push(controller);
          return true;
        }, `${runtime}: a closed stream to make room`);
        assert.equal(
          (toolText(await rawCall(node.url, runtime, 'tools/call', 'increment', {}, { sessionId })) as { count: number }).count,
          2,
          `${runtime}: the session kept its state`,
        );
      } finally {
        for (const controller of streams) controller.abort();
      }
    }
    await bystanderUnharmed();
  });

  test('calls waiting on their client stop at the cap, in the bridge and in the legacy facade; the waiting ones go on', async () => {
    // The bridge: a legacy server's questions park calls in the sandbox.
    const sessionId = randomUUID();
    const parked = [];
    for (let i = 0; i < CAPS.pendingInputs; i++) {
      const answer = await rawCall(node.url, 'legacy', 'tools/call', 'ask_name', {}, { sessionId, capabilities: ELICIT });
      assert.equal(answer.response.result?.resultType, 'input_required', JSON.stringify(answer.response));
      parked.push(answer);
    }
    const over = await rawCall(node.url, 'legacy', 'tools/call', 'ask_name', {}, { sessionId, capabilities: ELICIT });
    assert.equal(over.status, 429);
    assert.equal(over.response.error?.code, -32600);
    assert.equal(over.response.error?.data?.code, 'limit_exceeded');
    assert.match(over.response.error?.message ?? '', /BERTH_SESSION_MAX_PENDING_INPUT/);
    const first = parked[0]?.response.result as { inputRequests: Record<string, unknown>; requestState: string };
    const [key] = Object.keys(first.inputRequests);
    const resumed = await rawCall(
      node.url,
      'legacy',
      'tools/call',
      'ask_name',
      {},
      {
        sessionId,
        capabilities: ELICIT,
        params: { requestState: first.requestState, inputResponses: { [key as string]: { action: 'accept', content: { name: 'Ada' } } } },
      },
    );
    assert.deepEqual(toolText(resumed), { action: 'accept', name: 'Ada' }, 'a parked call goes on');
    assert.equal((toolText(await rawCall(node.url, 'legacy', 'tools/call', 'increment', {}, { sessionId })) as { count: number }).count, 1);

    // The facade: a legacy client's requests wait on its answers at the edge.
    let release = (): void => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const { client, asked } = await legacyClient('modern-mrtr', { onElicit: () => held });
    const waiting = Array.from({ length: CAPS.pendingInputs }, () => client.callTool({ name: 'test_elicitation', arguments: { message: 'Proceed?' } }));
    await waitFor(() => asked() === CAPS.pendingInputs, 'the client to be asked by each call');
    await assert.rejects(client.callTool({ name: 'test_elicitation', arguments: { message: 'One too many?' } }), (error: Error) => {
      assert.match(error.message, /more than 2 requests waiting on their clients' answers.*BERTH_SESSION_MAX_PENDING_INPUT/);
      return true;
    });
    release();
    for (const result of await Promise.all(waiting)) assert.match(text(result), /action=accept/);
    assert.match(text(await client.callTool({ name: 'test_elicitation', arguments: { message: 'Room again?' } })), /action=accept/);
    await bystanderUnharmed();
  });

  test("a principal's own session keeps at most the cap of legacy clients; past it the oldest is forgotten", async () => {
    const headers = { authorization: `Bearer ${aliceKey}` };
    const clients = [];
    for (let i = 0; i <= CAPS.legacyClients; i++) clients.push(await legacyClient('follows', { headers }));
    const [oldest, ...kept] = clients;
    assert.ok(oldest);
    await assert.rejects(oldest.client.callTool({ name: 'increment', arguments: {} }), /404|Session not found/);
    let count = 0;
    for (const { client } of kept) count = (JSON.parse(text(await client.callTool({ name: 'increment', arguments: {} }))) as { count: number }).count;
    assert.equal(count, 2, 'the clients kept share the session and its state');
    await bystanderUnharmed();
  });
});
