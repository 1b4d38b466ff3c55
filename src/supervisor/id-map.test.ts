import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonRpcRequest } from '../mcp/jsonrpc.ts';
import { IdMap, MAX_PENDING_REQUESTS } from './id-map.ts';

const request = (id: string | number, params?: Record<string, unknown>): JsonRpcRequest =>
  params === undefined ? { jsonrpc: '2.0', id, method: 'tools/call' } : { jsonrpc: '2.0', id, method: 'tools/call', params };

test('allocation: fresh ids for the server whatever the clients chose, and the message otherwise as it came', () => {
  const ids = new IdMap<string>();
  const a = ids.allocate(request(7), 'a');
  const b = ids.allocate(request(7, { name: 'x' }), 'b');
  const c = ids.allocate(request('s'), 'c');
  assert.deepEqual([a?.id, b?.id, c?.id], [1, 2, 3]);
  assert.deepEqual(a?.message, { jsonrpc: '2.0', id: 1, method: 'tools/call' });
  assert.deepEqual(b?.message, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'x' } });
  assert.equal(ids.size, 3);
});

test("a progress token is replaced by one naming the server's id, and mapped back", () => {
  const ids = new IdMap<string>();
  const original = request('c1', { name: 'x', _meta: { progressToken: 'mine', other: 1 } });
  const sent = ids.allocate(original, 'call');
  assert.deepEqual(sent?.message.params, { name: 'x', _meta: { progressToken: 'berth-1', other: 1 } });
  assert.deepEqual(original.params?._meta, { progressToken: 'mine', other: 1 }, "the client's message is not changed");
  const found = ids.byToken('berth-1');
  assert.equal(found?.value, 'call');
  assert.equal(found?.clientToken, 'mine');
  assert.equal(found?.clientId, 'c1');
  // A token that is neither a string nor a number is the client's business; it passes as it came.
  const odd = ids.allocate(request(2, { _meta: { progressToken: { x: 1 } } }), 'odd');
  assert.deepEqual(odd?.message.params, { _meta: { progressToken: { x: 1 } } });
  assert.equal(ids.byToken('berth-2'), undefined);
});

test("resolution: an answer's id names its request once, with the client's id", () => {
  const ids = new IdMap<string>();
  ids.allocate(request('c1', { _meta: { progressToken: 5 } }), 'one');
  ids.allocate(request('c2'), 'two');
  assert.equal(ids.get(2)?.value, 'two', 'get does not forget');
  const taken = ids.take(1);
  assert.deepEqual(taken, { value: 'one', clientId: 'c1', clientToken: 5 });
  assert.equal(ids.take(1), undefined, 'a second answer to the same id goes nowhere');
  assert.equal(ids.byToken('berth-1'), undefined, 'progress for an answered request goes nowhere');
  assert.equal(ids.size, 1);
});

test('ids and tokens a hostile server makes up resolve to nothing and disturb nothing', () => {
  const ids = new IdMap<string>();
  ids.allocate(request('c1', { _meta: { progressToken: 't' } }), 'one');
  for (const id of ['1', null, undefined, 0, -1, 1.5, 2, Number.NaN, Number.MAX_SAFE_INTEGER, {}, [1], true]) {
    assert.equal(ids.get(id), undefined, String(id));
    assert.equal(ids.take(id), undefined, String(id));
  }
  for (const token of ['t', 'berth-2', 'berth-01', 1, null, undefined, {}]) assert.equal(ids.byToken(token), undefined, String(token));
  assert.equal(ids.forget(2), false);
  assert.equal(ids.size, 1);
  assert.equal(ids.take(1)?.clientId, 'c1');
});

test('forget and drain', () => {
  const ids = new IdMap<string>();
  ids.allocate(request(1, { _meta: { progressToken: 't' } }), 'one');
  ids.allocate(request(2), 'two');
  ids.allocate(request(3), 'three');
  assert.equal(ids.forget(1), true);
  assert.equal(ids.forget(1), false);
  assert.equal(ids.byToken('berth-1'), undefined);
  assert.deepEqual(ids.drain(), ['two', 'three']);
  assert.equal(ids.size, 0);
  assert.equal(ids.allocate(request(4), 'four')?.id, 4, 'ids are never reused');
});

test('bounds: past `max` waiting requests nothing is kept, and room comes back as answers do', () => {
  assert.equal(new IdMap().max, MAX_PENDING_REQUESTS);
  const ids = new IdMap<number>(2);
  assert.ok(ids.allocate(request(1), 1));
  assert.ok(ids.allocate(request(2, { _meta: { progressToken: 'p' } }), 2));
  assert.equal(ids.allocate(request(3, { _meta: { progressToken: 'q' } }), 3), undefined);
  assert.equal(ids.size, 2);
  assert.equal(ids.byToken('berth-3'), undefined);
  ids.take(1);
  assert.equal(ids.allocate(request(4), 4)?.id, 3);
  assert.equal(ids.size, 2);
});
