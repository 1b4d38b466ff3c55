import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../mcp/jsonrpc.ts';
import { MAX_PENDING_REQUESTS } from './id-map.ts';
import { ReadBudget } from './server-messages.ts';
import { MAX_UNREAD_STDIN_BYTES, StdioPeer, type PeerCall, type PeerFailure } from './stdio-peer.ts';

/** A call that records what reaches it. */
function recorder(): PeerCall & { responses: JsonRpcResponse[]; notes: JsonRpcNotification[]; failures: Array<[string, PeerFailure | undefined]> } {
  const call = {
    responses: [] as JsonRpcResponse[],
    notes: [] as JsonRpcNotification[],
    failures: [] as Array<[string, PeerFailure | undefined]>,
    onResponse: (message: JsonRpcResponse) => call.responses.push(message),
    onNotification: (message: JsonRpcNotification) => call.notes.push(message),
    onFailure: (why: string, code?: PeerFailure) => call.failures.push([why, code]),
  };
  return call;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("the server sees berth's ids and tokens; the client gets its own back, once", async () => {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const peer = new StdioPeer(
    stdin,
    stdout,
    () => {},
    () => {},
  );
  const call = recorder();
  const request: JsonRpcRequest = { jsonrpc: '2.0', id: 'c-1', method: 'tools/call', params: { name: 'x', _meta: { progressToken: 'p' } } };
  const id = peer.request(request, call);
  assert.deepEqual(JSON.parse(String(stdin.read())), { ...request, id, params: { name: 'x', _meta: { progressToken: `berth-${id}` } } });
  stdout.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: `berth-${id}`, progress: 1 } })}\n`);
  // A hostile server answers under ids it was never sent, then twice under the real one.
  for (const bad of [`"${id}"`, 'null', String(id + 1)]) stdout.write(`{"jsonrpc":"2.0","id":${bad},"result":{}}\n`);
  stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id, result: { n: 1 } })}\n`);
  stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id, result: { n: 2 } })}\n`);
  await tick();
  assert.deepEqual(call.notes, [{ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p', progress: 1 } }]);
  assert.deepEqual(call.responses, [{ jsonrpc: '2.0', id: 'c-1', result: { n: 1 } }]);
  assert.deepEqual(call.failures, []);
});

test('past its bound of waiting requests, the peer fails the call at once and sends nothing', async () => {
  const stdin = new PassThrough({ highWaterMark: 64 * 1024 * 1024 });
  const stdout = new PassThrough();
  const peer = new StdioPeer(
    stdin,
    stdout,
    () => {},
    () => {},
  );
  const quiet = recorder();
  for (let i = 0; i < MAX_PENDING_REQUESTS; i++) peer.request({ jsonrpc: '2.0', id: i, method: 'tools/list' }, quiet);
  while (stdin.read() !== null);
  const over = recorder();
  assert.equal(peer.request({ jsonrpc: '2.0', id: 'over', method: 'tools/list' }, over), 0);
  assert.equal(stdin.read(), null, 'nothing reached the server');
  assert.equal(over.failures.length, 1);
  assert.equal(over.failures[0]?.[1], 'limit_exceeded');
  // An answer frees room.
  stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, result: {} })}\n`);
  await tick();
  assert.notEqual(peer.request({ jsonrpc: '2.0', id: 'next', method: 'tools/list' }, recorder()), 0);
  assert.equal(peer.drain().length, MAX_PENDING_REQUESTS);
});

test("read in berth's own process, a fault on the server's output goes to onFault, never up the stream, and a call over the read budget fails alone", async () => {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const faults: unknown[] = [];
  let outputs = 0;
  const peer = new StdioPeer(
    stdin,
    stdout,
    () => {},
    (line) => {
      outputs++;
      if (line === 'not json-rpc') throw new Error('the log broke');
    },
    { onFault: (error) => faults.push(error), budget: new ReadBudget(1024) },
  );
  stdout.write('not json-rpc\n');
  await tick();
  assert.equal(outputs, 1);
  assert.equal((faults[0] as Error | undefined)?.message, 'the log broke', 'the fault reached onFault, and the stream lives');
  const call = recorder();
  const id = peer.request({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'big' } }, call);
  stdout.write(`{"jsonrpc":"2.0","id":${id},"result":{"text":"${'x'.repeat(80 * 1024)}"}}\n`);
  await tick();
  assert.equal(call.responses.length, 0);
  assert.match(call.failures[0]?.[0] ?? '', /set(s)? aside for them/);
  assert.equal(call.failures[0]?.[1], 'sandbox_failed');
});

test('a server that stops reading its stdin gets no more requests past a bound; what it was sent waits, and it may read on', async () => {
  const stdin = new PassThrough({ highWaterMark: 1024 });
  const stdout = new PassThrough();
  const peer = new StdioPeer(
    stdin,
    stdout,
    () => {},
    () => {},
  );
  const big = 'x'.repeat(1024 * 1024);
  const calls = Array.from({ length: 20 }, () => recorder());
  for (const call of calls) peer.request({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'write', arguments: { big } } }, call);
  const refused = calls.filter((call) => call.failures.length > 0);
  assert.ok(refused.length > 0 && refused.length < 20, `some were sent (${20 - refused.length}), the rest refused`);
  for (const call of refused) {
    assert.equal(call.failures[0]?.[1], 'sandbox_unavailable');
    assert.match(call.failures[0]?.[0] ?? '', /has not read the \d+ bytes already sent to it/);
  }
  assert.ok(stdin.writableLength <= MAX_UNREAD_STDIN_BYTES + big.length + 1024, 'what is held stays near the bound');
  stdin.resume();
  await new Promise((resolve) => stdin.once('drain', resolve));
  const after = recorder();
  assert.ok(peer.request({ jsonrpc: '2.0', id: 2, method: 'ping' }, after) > 0, 'once it reads again, requests go through');
  assert.deepEqual(after.failures, []);
});
