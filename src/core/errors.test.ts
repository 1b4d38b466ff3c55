import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError, ERROR_KINDS, isBerthError, jsonRpcErrorBody, restErrorBody, toBerthError } from './errors.ts';

test('every code maps to an HTTP status and a JSON-RPC code', () => {
  for (const [code, kind] of Object.entries(ERROR_KINDS)) {
    assert.ok(kind.status >= 400 && kind.status < 600, code);
    assert.ok(Number.isInteger(kind.rpc) && kind.rpc < 0, code);
  }
});

test('pinned statuses of the public contract', () => {
  assert.equal(ERROR_KINDS.runtime_not_found.status, 404);
  assert.equal(ERROR_KINDS.parse_error.rpc, -32700);
  assert.equal(ERROR_KINDS.invalid_session_id.status, 400);
  assert.equal(ERROR_KINDS.body_too_large.status, 413);
  assert.equal(ERROR_KINDS.session_limit.status, 429);
});

test('wire shapes carry the same code, message and details', () => {
  const err = new BerthError('runtime_not_found', 'no runtime "x"', { details: { runtime: 'x' } });
  assert.deepEqual(restErrorBody(err), { error: { code: 'runtime_not_found', message: 'no runtime "x"', details: { runtime: 'x' } } });
  assert.deepEqual(jsonRpcErrorBody(err, 7), {
    jsonrpc: '2.0',
    id: 7,
    error: { code: -32001, message: 'no runtime "x"', data: { code: 'runtime_not_found', runtime: 'x' } },
  });
});

test('unknown failures become internal without leaking their message', () => {
  const err = toBerthError(new Error('ENOENT /secret/path'));
  assert.equal(err.code, 'internal');
  assert.doesNotMatch(err.message, /secret/);
  assert.ok(isBerthError(err));
  assert.ok(!isBerthError(new Error('x')));
});
