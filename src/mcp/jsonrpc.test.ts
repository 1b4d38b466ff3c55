import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asJsonRpcMessage, httpStatusForRpcError, isNotification, isRequest, isResponse } from './jsonrpc.ts';

test('classifies requests, notifications and responses', () => {
  const req = asJsonRpcMessage({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
  const note = asJsonRpcMessage({ jsonrpc: '2.0', method: 'notifications/cancelled' });
  const res = asJsonRpcMessage({ jsonrpc: '2.0', id: 'a', result: {} });
  assert.ok(req && isRequest(req) && !isNotification(req));
  assert.ok(note && isNotification(note) && !isRequest(note));
  assert.ok(res && isResponse(res));
});

test('rejects malformed messages', () => {
  for (const bad of [null, [], 'x', { id: 1, method: 'a' }, { jsonrpc: '2.0', id: {}, method: 'a' }, { jsonrpc: '2.0', method: 'a', params: [1] }, { jsonrpc: '2.0', id: 1 }]) {
    assert.equal(asJsonRpcMessage(bad), undefined, JSON.stringify(bad));
  }
});

test('transport statuses for JSON-RPC errors', () => {
  assert.equal(httpStatusForRpcError(-32601), 404);
  assert.equal(httpStatusForRpcError(-32022), 400);
  assert.equal(httpStatusForRpcError(-32603), 200);
});
