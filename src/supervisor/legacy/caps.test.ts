/**
 * The bridge's per-session caps, against a fake legacy server: listen streams, the resources they subscribe to (and
 * each URI's length), and calls waiting on their clients. Past a cap, the request gets limit_exceeded naming the
 * setting to raise, and nothing else of the session changes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { serveHandler, type ServedHandler } from '../../../test/helpers/channel-handler.ts';
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { LegacyBridge } from './bridge.ts';
import type { BridgeSink, LegacyPeer } from './peer.ts';

/** A legacy server that asks its client's name on `ask`, and records what berth sends it. */
class FakePeer implements LegacyPeer {
  readonly sent: string[] = [];
  readonly answered: JsonRpcResponse[] = [];
  readonly cancelled: number[] = [];
  /** The ids of the questions asked, in order. */
  readonly questions: string[] = [];
  /** Calls waiting on their question's answer, by the question's id. */
  readonly #asking = new Map<string, { sink: BridgeSink; clientId: JsonRpcRequest['id'] }>();
  #nextId = 1;

  request(message: JsonRpcRequest, sink: BridgeSink): number {
    const id = this.#nextId++;
    this.sent.push(`${message.method} ${String(message.params?.name ?? '')}`);
    if (message.params?.name === 'ask') {
      this.#asking.set(`q${id}`, { sink, clientId: message.id });
      this.questions.push(`q${id}`);
      sink.onServerRequest?.({
        jsonrpc: '2.0',
        id: `q${id}`,
        method: 'elicitation/create',
        params: { message: 'Name?', requestedSchema: { type: 'object', properties: {} } },
      });
    } else {
      setImmediate(() => sink.onResponse({ jsonrpc: '2.0', id: message.id, result: { content: [] } }));
    }
    return id;
  }

  cancel(id: number): void {
    this.cancelled.push(id);
  }

  notify(_message: JsonRpcNotification): void {}

  respond(message: JsonRpcResponse): void {
    this.answered.push(message);
    const asking = this.#asking.get(String(message.id));
    this.#asking.delete(String(message.id));
    // An accepted question lets its call finish, with the answer as its result.
    if (asking && message.result?.action === 'accept')
      asking.sink.onResponse({ jsonrpc: '2.0', id: asking.clientId, result: { content: [{ type: 'text', text: 'answered' }] } });
  }

  async call(method: string, params: Record<string, unknown> | undefined): Promise<JsonRpcResponse> {
    this.sent.push(`${method} ${String(params?.uri ?? '')}`);
    return { jsonrpc: '2.0', id: 0, result: {} };
  }
}

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };

describe('the bridge at its caps', () => {
  const peer = new FakePeer();
  let server: ServedHandler;
  let url: string;
  const open: AbortController[] = [];

  before(async () => {
    const bridge = new LegacyBridge({
      runtime: 'fake',
      peer,
      attributesServerRequests: true,
      inputTimeoutMs: 60_000,
      onActivity: () => {},
      limits: { subscriptions: 3, listeners: 2, pendingInputs: 1 },
      log: () => {},
    });
    await bridge.open(async () => ({
      jsonrpc: '2.0',
      id: 0,
      result: {
        protocolVersion: '2025-11-25',
        capabilities: { resources: { subscribe: true }, tools: { listChanged: true } },
        serverInfo: { name: 'fake', version: '1' },
      },
    }));
    server = await serveHandler(bridge.handle);
    url = server.url;
  });
  after(() => {
    for (const controller of open) controller.abort();
    server.close();
  });

  const post = (message: Record<string, unknown>, signal?: AbortSignal) =>
    fetch(url, {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', ...message }),
    });

  /** Opens a listen stream and waits for its acknowledgement; the stream stays open until the test ends. */
  const listen = async (id: string, resourceSubscriptions: string[]): Promise<{ status: number; code: string | null; text: string }> => {
    const controller = new AbortController();
    const response = await post(
      { id, method: 'subscriptions/listen', params: { _meta: META, notifications: { toolsListChanged: true, resourceSubscriptions } } },
      controller.signal,
    );
    if (response.status !== 200) return { status: response.status, code: response.headers.get('x-berth-error'), text: await response.text() };
    open.push(controller);
    const reader = response.body!.getReader();
    const first = await reader.read();
    return { status: 200, code: null, text: new TextDecoder().decode(first.value) };
  };

  test('a URI longer than berth keeps is refused with invalid_params, and subscribes nothing', async () => {
    const refused = await listen('long', [`file:///${'x'.repeat(8 * 1024)}`]);
    assert.equal(refused.status, 400);
    assert.equal(refused.code, 'invalid_params');
    assert.match(refused.text, /longer than the 8192 berth keeps/);
    assert.ok(!peer.sent.some((line) => line.startsWith('resources/subscribe file:///x')));
  });

  test('distinct resources past the cap are refused with limit_exceeded naming BERTH_SESSION_MAX_SUBSCRIPTIONS', async () => {
    const first = await listen('a', ['r://1', 'r://2', 'r://1']);
    assert.equal(first.status, 200);
    assert.match(first.text, /"resourceSubscriptions":\["r:\/\/1","r:\/\/2"\]/, 'a URI named twice is kept once');
    const over = await listen('b', ['r://2', 'r://3', 'r://4']);
    assert.equal(over.status, 429);
    assert.equal(over.code, 'limit_exceeded');
    assert.match(over.text, /more than 3 resources subscribed.*BERTH_SESSION_MAX_SUBSCRIPTIONS/);
    assert.deepEqual(
      peer.sent.filter((line) => line.startsWith('resources/subscribe')),
      ['resources/subscribe r://1', 'resources/subscribe r://2'],
      'the refused listener subscribed nothing',
    );
  });

  test('listen streams past the cap are refused with limit_exceeded naming BERTH_SESSION_MAX_LISTENERS', async () => {
    assert.equal((await listen('c', ['r://2', 'r://3'])).status, 200, 'a URI already subscribed counts once');
    const over = await listen('d', []);
    assert.equal(over.status, 429);
    assert.equal(over.code, 'limit_exceeded');
    assert.match(over.text, /BERTH_SESSION_MAX_LISTENERS/);
  });

  test('a call past the cap on calls waiting for their clients ends with limit_exceeded; the waiting one goes on', async () => {
    const first = await post({ id: 1, method: 'tools/call', params: { _meta: META, name: 'ask', arguments: {} } });
    const parked = (await first.json()) as { result: { resultType: string; inputRequests: Record<string, unknown>; requestState: string } };
    assert.equal(parked.result.resultType, 'input_required');
    const second = await post({ id: 2, method: 'tools/call', params: { _meta: META, name: 'ask', arguments: {} } });
    assert.equal(second.status, 429);
    assert.equal(second.headers.get('x-berth-error'), 'limit_exceeded');
    assert.match(await second.text(), /more than 1 calls waiting on their clients' answers.*BERTH_SESSION_MAX_PENDING_INPUT/);
    assert.deepEqual(peer.answered.at(-1)?.result, { action: 'cancel' }, "the refused call's question is declined to the server");
    assert.equal(peer.cancelled.length, 1, 'and the refused call cancelled there');
    // The first call still waits on its client: its answer reaches the server.
    const [key] = Object.keys(parked.result.inputRequests);
    const resumed = await post({
      id: 3,
      method: 'tools/call',
      params: {
        _meta: META,
        name: 'ask',
        arguments: {},
        requestState: parked.result.requestState,
        inputResponses: { [key as string]: { action: 'accept', content: {} } },
      },
    });
    assert.deepEqual(peer.answered.at(-1), { jsonrpc: '2.0', id: peer.questions[0], result: { action: 'accept', content: {} } });
    assert.equal(((await resumed.json()) as { result: { content: Array<{ text: string }> } }).result.content[0]?.text, 'answered');
    // With nothing waiting any more, a new call may wait again.
    const third = await post({ id: 4, method: 'tools/call', params: { _meta: META, name: 'ask', arguments: {} } });
    assert.equal(((await third.json()) as { result: { resultType: string } }).result.resultType, 'input_required');
  });
});
