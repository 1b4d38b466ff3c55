import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../core/errors.ts';
import {
  asJsonRpcMessage,
  httpStatusForRpcError,
  isNotification,
  isRequest,
  isResponse,
  jsonDepthExceeds,
  MAX_JSON_DEPTH,
  readClientMessage,
} from './jsonrpc.ts';

test('classifies requests, notifications and responses', () => {
  const req = asJsonRpcMessage({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
  const note = asJsonRpcMessage({ jsonrpc: '2.0', method: 'notifications/cancelled' });
  const res = asJsonRpcMessage({ jsonrpc: '2.0', id: 'a', result: {} });
  assert.ok(req && isRequest(req) && !isNotification(req));
  assert.ok(note && isNotification(note) && !isRequest(note));
  assert.ok(res && isResponse(res));
});

test('rejects malformed messages', () => {
  for (const bad of [
    null,
    [],
    'x',
    { id: 1, method: 'a' },
    { jsonrpc: '2.0', id: {}, method: 'a' },
    { jsonrpc: '2.0', method: 'a', params: [1] },
    { jsonrpc: '2.0', id: 1 },
  ]) {
    assert.equal(asJsonRpcMessage(bad), undefined, JSON.stringify(bad));
  }
});

test('transport statuses for JSON-RPC errors', () => {
  assert.equal(httpStatusForRpcError(-32601), 404);
  assert.equal(httpStatusForRpcError(-32022), 400);
  assert.equal(httpStatusForRpcError(-32603), 200);
});

test('jsonDepthExceeds counts nesting of objects and arrays, not brackets inside strings', () => {
  assert.equal(jsonDepthExceeds('{"a":[1,{"b":2}]}', 3), false);
  assert.equal(jsonDepthExceeds('{"a":[1,{"b":2}]}', 2), true);
  assert.equal(jsonDepthExceeds('{"a":"[[[[{{{{"}', 1), false);
  assert.equal(jsonDepthExceeds('{"a":"\\"[[[["}', 1), false, 'an escaped quote does not end the string');
  assert.equal(jsonDepthExceeds('{"a":"\\\\"}', 1), false, 'an escaped backslash does not escape the quote after it');
  assert.equal(jsonDepthExceeds('{"a":"\\\\",  "b":[[]]}', 2), true, 'the string ended, so the arrays after it count');
  assert.equal(jsonDepthExceeds('[[[]],[[]],[[]]]', 3), false, 'siblings do not add up');
  assert.equal(jsonDepthExceeds('"unterminated [[[[', 1), false);
  assert.equal(jsonDepthExceeds('', 1), false);
});

test('jsonDepthExceeds takes any depth without recursion, and stops at the bound', () => {
  const levels = 1_000_000;
  const deep = `${'['.repeat(levels)}${']'.repeat(levels)}`;
  assert.equal(jsonDepthExceeds(deep, MAX_JSON_DEPTH), true);
  assert.equal(jsonDepthExceeds(`${'{"a":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}`, MAX_JSON_DEPTH), false, 'exactly the bound passes');
  assert.equal(jsonDepthExceeds(`${'{"a":'.repeat(MAX_JSON_DEPTH + 1)}1${'}'.repeat(MAX_JSON_DEPTH + 1)}`, MAX_JSON_DEPTH), true);
  const manyEscapes = `"${'\\"'.repeat(200_000)}"`;
  assert.equal(jsonDepthExceeds(manyEscapes, 1), false);
});

test('a client message a server would drop without a word is refused with the reason, before any server sees it', () => {
  const refused = (message: unknown, why: RegExp, code = 'invalid_request'): void =>
    assert.throws(
      () => readClientMessage(JSON.stringify(message)),
      (error: unknown) => isBerthError(error) && error.code === code && why.test(error.message),
      JSON.stringify(message),
    );
  const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_count', arguments: {} } };
  assert.deepEqual(readClientMessage(JSON.stringify(call)), call);
  assert.deepEqual(readClientMessage(JSON.stringify({ ...call, id: 'a-1' })), { ...call, id: 'a-1' });
  assert.ok(readClientMessage('{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad"}}'), 'a response may answer a request whose id was unknown');
  refused({ ...call, extra: 1 }, /member JSON-RPC does not define \("extra"\)/);
  refused({ ...call, id: 1.5 }, /id must be a string or an integer/);
  refused({ ...call, id: null }, /not a JSON-RPC 2.0/);
  refused({ ...call, method: 'ping\u202e' }, /method must be 1 to 128 printable ASCII/);
  refused({ ...call, method: 'tools/call\r\nX-Evil: 1' }, /method must be/);
  refused({ ...call, method: 'm'.repeat(129) }, /method must be/);
  refused({ ...call, params: { ...call.params, _meta: { progressToken: { a: 1 } } } }, /progressToken must be a string or an integer/);
  refused({ jsonrpc: '2.0', id: 1, error: { code: 'x', message: 'bad' } }, /integer code and a string message/);
  refused({ jsonrpc: '2.0', id: 1, result: {}, method2: 1 }, /member JSON-RPC does not define/);
  refused([call], /batches are not supported/);
  assert.throws(
    () => readClientMessage('{"jsonrpc":'),
    (error: unknown) => isBerthError(error) && error.code === 'parse_error' && !error.message.includes('jsonrpc'),
  );
  assert.throws(
    () => readClientMessage(`${'['.repeat(5000)}${']'.repeat(5000)}`),
    (error: unknown) => isBerthError(error) && error.code === 'invalid_request' && /nests more than 64/.test(error.message),
  );
});
