import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_KINDS } from './errors.ts';
import { RPC } from './rpc-codes.ts';

test('each name keeps its number: clients and servers read these on the wire', () => {
  assert.deepEqual(RPC, {
    PARSE_ERROR: -32700,
    INVALID_REQUEST: -32600,
    METHOD_NOT_FOUND: -32601,
    INVALID_PARAMS: -32602,
    INTERNAL_ERROR: -32603,
    UPSTREAM: -32000,
    NEEDS_SESSION: -32000,
    NOT_FOUND: -32001,
    LEGACY_RESOURCE_NOT_FOUND: -32002,
    BUSY: -32005,
    HEADER_MISMATCH: -32020,
    MISSING_CAPABILITY: -32021,
    UNSUPPORTED_VERSION: -32022,
  });
});

test("every code of the error registry is one of the table's", () => {
  const known = new Set<number>(Object.values(RPC));
  for (const [code, kind] of Object.entries(ERROR_KINDS)) assert.ok(known.has(kind.rpc), `${code}: ${kind.rpc}`);
});

test('the registry maps its codes onto the names that say the same', () => {
  const pinned: Array<[keyof typeof ERROR_KINDS, number]> = [
    ['parse_error', RPC.PARSE_ERROR],
    ['invalid_request', RPC.INVALID_REQUEST],
    ['invalid_params', RPC.INVALID_PARAMS],
    ['method_not_found', RPC.METHOD_NOT_FOUND],
    ['internal', RPC.INTERNAL_ERROR],
    ['header_mismatch', RPC.HEADER_MISMATCH],
    ['missing_client_capability', RPC.MISSING_CAPABILITY],
    ['unsupported_protocol_version', RPC.UNSUPPORTED_VERSION],
    ['session_required', RPC.NEEDS_SESSION],
    ['runtime_not_found', RPC.NOT_FOUND],
    ['session_limit', RPC.BUSY],
    ['draining', RPC.BUSY],
    ['server_crashed', RPC.UPSTREAM],
  ];
  for (const [code, rpc] of pinned) assert.equal(ERROR_KINDS[code].rpc, rpc, code);
});
