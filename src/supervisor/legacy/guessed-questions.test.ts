/**
 * Over stdio nothing says which call a server's question belongs to, so the bridge gives it to the call started last.
 * When that call ends before the question is answered, the question must go on to a call that may own it (or get an
 * answer from berth): the fuzzer found one dropped, leaving the server, and the call that really asked, waiting forever.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { LegacyBridge } from './bridge.ts';
import type { BridgeSink, LegacyPeer } from './peer.ts';
import { serveHandler } from '../../../test/helpers/channel-handler.ts';

/** A stdio-like legacy server: it answers calls only when the test says, and records what berth answers it. */
class StdioLikePeer implements LegacyPeer {
  readonly calls = new Map<string, { sink: BridgeSink; id: JsonRpcRequest['id'] }>();
  readonly answered: JsonRpcResponse[] = [];
  #nextId = 1;

  request(message: JsonRpcRequest, sink: BridgeSink): number {
    this.calls.set(String(message.params?.name), { sink, id: message.id });
    return this.#nextId++;
  }

  finish(name: string, text: string): void {
    const call = this.calls.get(name);
    call?.sink.onResponse({ jsonrpc: '2.0', id: call.id, result: { content: [{ type: 'text', text }] } });
  }

  cancel(): void {}
  notify(_message: JsonRpcNotification): void {}
  respond(message: JsonRpcResponse): void {
    this.answered.push(message);
  }
  async call(): Promise<JsonRpcResponse> {
    return { jsonrpc: '2.0', id: 0, result: {} };
  }
}

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { roots: {} } };

test('a question given by guess to a call that then ends goes to the call still running, whose client answers it', async (t) => {
  const peer = new StdioLikePeer();
  const bridge = new LegacyBridge({
    runtime: 'fake',
    peer,
    attributesServerRequests: false,
    inputTimeoutMs: 60_000,
    onActivity: () => {},
    limits: { subscriptions: 8, listeners: 8, pendingInputs: 8 },
    log: () => {},
  });
  await bridge.open(async () => ({
    jsonrpc: '2.0',
    id: 0,
    result: { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1' } },
  }));
  const server = await serveHandler(bridge.handle);
  t.after(() => server.close());
  const url = server.url;
  const post = (id: number, name: string, extra: Record<string, unknown> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { _meta: META, name, arguments: {}, ...extra } }),
    });

  // The slow call starts first and will ask for roots; a quick call starts just after.
  const slow = post(1, 'ask_roots');
  while (!peer.calls.has('ask_roots')) await new Promise((resolve) => setImmediate(resolve));
  const quick = post(2, 'increment');
  while (!peer.calls.has('increment')) await new Promise((resolve) => setImmediate(resolve));

  // The server asks, unattributed (stdio): the bridge guesses the quick call, which then finishes at once.
  bridge.fromServer({ jsonrpc: '2.0', id: 'roots-1', method: 'roots/list' });
  peer.finish('increment', 'one');
  assert.equal(((await (await quick).json()) as { result: { content: Array<{ text: string }> } }).result.content[0]?.text, 'one');

  // The question went on to the slow call, whose client is asked.
  const parked = (await (await slow).json()) as { result: { resultType: string; inputRequests: Record<string, { method: string }>; requestState: string } };
  assert.equal(parked.result.resultType, 'input_required');
  const [key, question] = Object.entries(parked.result.inputRequests)[0] ?? [];
  assert.equal(question?.method, 'roots/list');
  const resumed = post(3, 'ask_roots', { requestState: parked.result.requestState, inputResponses: { [key as string]: { roots: [{ uri: 'file:///work' }] } } });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(peer.answered, [{ jsonrpc: '2.0', id: 'roots-1', result: { roots: [{ uri: 'file:///work' }] } }]);
  peer.finish('ask_roots', 'roots seen');
  assert.equal(((await (await resumed).json()) as { result: { content: Array<{ text: string }> } }).result.content[0]?.text, 'roots seen');
});
