import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, decodeHeaderValue } from './classify.ts';
import { isBerthError, type ErrorCode } from '../core/errors.ts';
import type { JsonRpcMessage } from './jsonrpc.ts';

const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const call = (meta: Record<string, unknown> = envelope): JsonRpcMessage => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'deploy', arguments: {}, _meta: meta },
});
const headers = (h: Record<string, string>) => new Headers(h);
const modernHeaders = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'deploy' };

function refused(h: Record<string, string>, message: JsonRpcMessage, code: ErrorCode, rpc?: number): void {
  assert.throws(
    () => classify(headers(h), message),
    (e) => isBerthError(e) && e.code === code && (rpc === undefined || e.rpcCode === rpc),
  );
}

test('a well-formed modern request', () => {
  const out = classify(headers(modernHeaders), call());
  assert.equal(out.era, 'modern');
  if (out.era === 'modern') assert.deepEqual([out.method, out.name, out.id], ['tools/call', 'deploy', 1]);
});

test('legacy traffic: initialize, no version, an older version', () => {
  assert.equal(classify(headers({}), { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }).era, 'legacy');
  assert.deepEqual(classify(headers({ 'mcp-protocol-version': '2025-06-18' }), { jsonrpc: '2.0', id: 2, method: 'tools/list' }), {
    era: 'legacy',
    version: '2025-06-18',
  });
});

test('header and body must agree (-32020)', () => {
  refused({ ...modernHeaders, 'mcp-method': 'tools/list' }, call(), 'header_mismatch', -32020);
  refused({ ...modernHeaders, 'mcp-name': 'other' }, call(), 'header_mismatch');
  refused({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' }, call(), 'header_mismatch');
  refused({ 'mcp-method': 'tools/call', 'mcp-name': 'deploy' }, call(), 'header_mismatch');
  refused({ ...modernHeaders, 'mcp-protocol-version': '2025-11-25' }, call(), 'header_mismatch');
});

test('Mcp-Name may be base64-encoded', () => {
  const message: JsonRpcMessage = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'météo', _meta: envelope } };
  const encoded = `=?base64?${Buffer.from('météo').toString('base64')}?=`;
  assert.equal(classify(headers({ ...modernHeaders, 'mcp-name': encoded }), message).era, 'modern');
  assert.equal(decodeHeaderValue('plain'), 'plain');
});

test('unsupported versions (-32022) name the supported ones', () => {
  assert.throws(
    () =>
      classify(
        headers({ ...modernHeaders, 'mcp-protocol-version': '2099-01-01' }),
        call({ ...envelope, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }),
      ),
    (e) => isBerthError(e) && e.rpcCode === -32022 && (e.details?.supported as string[]).includes('2026-07-28'),
  );
  refused({ 'mcp-protocol-version': '1999-01-01' }, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, 'unsupported_protocol_version');
});

test('a modern request without its _meta envelope is invalid params (-32602)', () => {
  refused(modernHeaders, call({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28' }), 'invalid_params', -32602);
});

test('methods 2026-07-28 removed are not found (-32601, 404)', () => {
  const init: JsonRpcMessage = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { _meta: envelope } };
  assert.throws(
    () => classify(headers({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'initialize' }), init),
    (e) => isBerthError(e) && e.rpcCode === -32601 && e.status === 404,
  );
});
