/**
 * A legacy server's roots question asked when no call runs (server-filesystem asks right after
 * `notifications/initialized`) waits for a call whose client declares roots; that call asks its client first and
 * reaches the server only after the answer (and a ping). Against a stdio-like fake server that records, in order,
 * everything berth sends it.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { LegacyBridge } from './bridge.ts';
import type { BridgeSink, LegacyPeer } from './peer.ts';
import { serveHandler, type ServedHandler } from '../../../test/helpers/channel-handler.ts';

/** A stdio-like legacy server: it answers each call at once with its name, and asks for roots when told they changed, if `asksOnChange`. */
class FakeServer implements LegacyPeer {
  /** What berth sent, in order: `call NAME`, `answer ID JSON`, `notify METHOD`, `ping`, `cancel`. */
  readonly log: string[] = [];
  asksOnChange = true;
  bridge: LegacyBridge | undefined;
  #nextId = 1;
  #nextQuestion = 1;

  request(message: JsonRpcRequest, sink: BridgeSink): number {
    this.log.push(`call ${String(message.params?.name)}`);
    setImmediate(() => sink.onResponse({ jsonrpc: '2.0', id: message.id, result: { content: [{ type: 'text', text: String(message.params?.name) }] } }));
    return this.#nextId++;
  }

  /** The server asks for roots, unattributed (stdio); returns the question's id. */
  askRoots(): string {
    const id = `roots-${this.#nextQuestion++}`;
    this.bridge?.fromServer({ jsonrpc: '2.0', id, method: 'roots/list' });
    return id;
  }

  cancel(): void {
    this.log.push('cancel');
  }

  notify(message: JsonRpcNotification): void {
    this.log.push(`notify ${message.method}`);
    if (message.method === 'notifications/roots/list_changed' && this.asksOnChange) this.askRoots();
  }

  respond(message: JsonRpcResponse): void {
    this.log.push(`answer ${String(message.id)} ${JSON.stringify(message.result ?? message.error)}`);
  }

  async call(method: string): Promise<JsonRpcResponse> {
    this.log.push(method);
    return { jsonrpc: '2.0', id: 0, result: {} };
  }
}

const WITH_ROOTS = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { roots: {} } };
const WITHOUT_ROOTS = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const ROOTS = { roots: [{ uri: 'file:///workspace' }] };

interface Answer {
  result?: { resultType?: string; content?: Array<{ text: string }>; inputRequests?: Record<string, { method: string }>; requestState?: string };
}

let server: ServedHandler | undefined;
afterEach(() => server?.close());

async function start(inputTimeoutMs = 60_000): Promise<{ fake: FakeServer; bridge: LegacyBridge; post: (body: Record<string, unknown>) => Promise<Answer> }> {
  const fake = new FakeServer();
  const bridge = new LegacyBridge({
    runtime: 'fake',
    peer: fake,
    attributesServerRequests: false,
    inputTimeoutMs,
    onActivity: () => {},
    limits: { subscriptions: 8, listeners: 8, pendingInputs: 8 },
    log: () => {},
  });
  fake.bridge = bridge;
  await bridge.open(async () => ({
    jsonrpc: '2.0',
    id: 0,
    result: { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1' } },
  }));
  fake.log.length = 0;
  server = await serveHandler(bridge.handle);
  const url = server.url;
  const post = async (body: Record<string, unknown>): Promise<Answer> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', ...body }),
    });
    return response.status === 202 ? {} : ((await response.json()) as Answer);
  };
  return { fake, bridge, post };
}

const call = (id: number, name: string, meta: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id,
  method: 'tools/call',
  params: { _meta: meta, name, arguments: {}, ...extra },
});

/** The answer to a round that asked for roots once: the client's retry, with `roots`. */
function retry(id: number, name: string, parked: Answer, roots: unknown = ROOTS): Record<string, unknown> {
  const keys = Object.keys(parked.result?.inputRequests ?? {});
  assert.equal(keys.length, 1);
  assert.equal(parked.result?.inputRequests?.[keys[0] as string]?.method, 'roots/list');
  return call(id, name, WITH_ROOTS, { requestState: parked.result?.requestState, inputResponses: { [keys[0] as string]: roots } });
}

test('a roots question asked with no call running waits for a client with roots, who answers it before its call reaches the server', async () => {
  const { fake, post } = await start();
  fake.askRoots();
  assert.deepEqual(fake.log, [], 'the question is not answered for want of a call');

  // A client without roots cannot answer it: its call goes straight on, and the question keeps waiting.
  assert.equal((await post(call(1, 'without', WITHOUT_ROOTS))).result?.content?.[0]?.text, 'without');
  assert.deepEqual(fake.log, ['call without']);

  const parked = await post(call(2, 'with', WITH_ROOTS));
  assert.equal(parked.result?.resultType, 'input_required');
  assert.deepEqual(fake.log, ['call without'], "the call waits for its client's roots");
  assert.equal((await post(retry(3, 'with', parked))).result?.content?.[0]?.text, 'with');
  assert.deepEqual(fake.log, ['call without', `answer roots-1 ${JSON.stringify(ROOTS)}`, 'ping', 'call with']);

  // The server has its client's roots now: the next call goes straight on.
  await post(call(4, 'again', WITH_ROOTS));
  assert.deepEqual(fake.log.slice(4), ['call again']);
});

test('calls that come while a client is asked for roots wait for its answer; the client is asked once', async () => {
  const { fake, post } = await start();
  fake.askRoots();
  const parked = await post(call(1, 'first', WITH_ROOTS));
  const second = post(call(2, 'second', WITH_ROOTS));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(fake.log, [], 'the second call waits too');
  await post(retry(3, 'first', parked));
  assert.equal((await second).result?.content?.[0]?.text, 'second');
  assert.deepEqual(fake.log.slice(0, 2), [`answer roots-1 ${JSON.stringify(ROOTS)}`, 'ping']);
  assert.deepEqual(fake.log.slice(2).sort(), ['call first', 'call second']);
});

test('a call whose client never answers gives the question back, never reaches the server, and the next client answers it', async () => {
  const { fake, post } = await start(300);
  fake.askRoots();
  const parked = await post(call(1, 'abandoned', WITH_ROOTS));
  assert.equal(parked.result?.resultType, 'input_required');
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.deepEqual(fake.log, [], 'nothing to cancel, and the question is kept, not declined');
  const next = await post(call(2, 'next', WITH_ROOTS));
  await post(retry(3, 'next', next));
  assert.deepEqual(fake.log, [`answer roots-1 ${JSON.stringify(ROOTS)}`, 'ping', 'call next']);
});

test('a roots question nobody carries is answered with no roots after the input timeout; the next client with roots has the server ask again', async () => {
  const { fake, post } = await start(100);
  fake.askRoots();
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(fake.log, ['answer roots-1 {"roots":[]}']);
  const parked = await post(call(1, 'later', WITH_ROOTS));
  assert.deepEqual(fake.log.slice(1), ['notify notifications/roots/list_changed']);
  await post(retry(2, 'later', parked));
  assert.deepEqual(fake.log.slice(2), [`answer roots-2 ${JSON.stringify(ROOTS)}`, 'ping', 'call later']);
});

test('a question the server gives up on is not answered, and the server is asked to ask again', async () => {
  const { fake, bridge, post } = await start();
  const id = fake.askRoots();
  bridge.fromServer({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'timed out' } });
  const parked = await post(call(1, 'after', WITH_ROOTS));
  await post(retry(2, 'after', parked));
  assert.deepEqual(fake.log, ['notify notifications/roots/list_changed', `answer roots-2 ${JSON.stringify(ROOTS)}`, 'ping', 'call after']);
});

test('a client that says its roots changed has the server ask again at the next call with roots', async () => {
  const { fake, post } = await start();
  fake.askRoots();
  await post(retry(2, 'first', await post(call(1, 'first', WITH_ROOTS))));
  fake.log.length = 0;
  await post({ method: 'notifications/roots/list_changed' });
  const parked = await post(call(3, 'changed', WITH_ROOTS));
  const tmp = { roots: [{ uri: 'file:///tmp' }] };
  await post(retry(4, 'changed', parked, tmp));
  assert.deepEqual(fake.log, ['notify notifications/roots/list_changed', `answer roots-2 ${JSON.stringify(tmp)}`, 'ping', 'call changed']);
});

test('a server that does not ask when told its roots changed is told once; the calls go on', async () => {
  const { fake, post } = await start(100);
  fake.asksOnChange = false;
  fake.askRoots();
  await new Promise((resolve) => setTimeout(resolve, 200));
  fake.log.length = 0;
  assert.equal((await post(call(1, 'one', WITH_ROOTS))).result?.content?.[0]?.text, 'one');
  assert.equal((await post(call(2, 'two', WITH_ROOTS))).result?.content?.[0]?.text, 'two');
  assert.deepEqual(fake.log, ['notify notifications/roots/list_changed', 'call one', 'call two']);
});

test('berth keeps a few roots questions; past them, the server is answered at once with no roots', async () => {
  const { fake } = await start();
  for (let i = 0; i < 5; i++) fake.askRoots();
  assert.deepEqual(fake.log, ['answer roots-5 {"roots":[]}']);
});
