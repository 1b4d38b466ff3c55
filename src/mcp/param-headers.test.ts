import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBerthError } from '../core/errors.ts';
import { decodeHeaderValue } from './classify.ts';
import { checkParamHeaders, paramHeadersOf } from './param-headers.ts';

const schema = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    count: { type: 'integer', 'x-mcp-header': 'Count' },
    dry: { type: 'boolean', 'x-mcp-header': 'Dry-Run' },
    note: { type: 'string' },
  },
};
const declared = paramHeadersOf(schema) ?? [];

function check(headers: Record<string, string>, args: Record<string, unknown>): string | undefined {
  try {
    checkParamHeaders(declared, new Headers(headers), args);
    return undefined;
  } catch (error) {
    assert.ok(isBerthError(error) && error.code === 'header_mismatch' && error.rpcCode === -32020 && error.status === 400);
    return error.message;
  }
}

test('the headers a tool declares are read from its top-level properties', () => {
  assert.deepEqual(
    declared.map((d) => [d.header, d.property, d.type]),
    [
      ['mcp-param-region', 'region', 'string'],
      ['mcp-param-count', 'count', 'integer'],
      ['mcp-param-dry-run', 'dry', 'boolean'],
    ],
  );
  assert.equal(paramHeadersOf({ type: 'object', properties: { a: { type: 'string' } } }), undefined);
});

test('a tool that breaks the rules declares nothing: number type, bad token, duplicate names', () => {
  assert.equal(paramHeadersOf({ properties: { a: { type: 'number', 'x-mcp-header': 'A' } } }), undefined);
  assert.equal(paramHeadersOf({ properties: { a: { type: 'string', 'x-mcp-header': 'has space' } } }), undefined);
  assert.equal(paramHeadersOf({ properties: { a: { type: 'string', 'x-mcp-header': 'A' }, b: { type: 'string', 'x-mcp-header': 'a' } } }), undefined);
});

test('agreeing headers pass: plain, base64, numeric and boolean forms', () => {
  assert.equal(
    check({ 'mcp-param-region': 'us-west1', 'mcp-param-count': '42.0', 'mcp-param-dry-run': 'false' }, { region: 'us-west1', count: 42, dry: false }),
    undefined,
  );
  assert.equal(check({ 'mcp-param-region': '=?base64?SGVsbG8=?=' }, { region: 'Hello' }), undefined);
  assert.equal(check({ 'mcp-param-region': 'SGVsbG8=' }, { region: 'SGVsbG8=' }), undefined, 'no sentinel: compared as it is');
  assert.equal(check({ 'mcp-param-region': '=?base64?SGVsbG8=' }, { region: '=?base64?SGVsbG8=' }), undefined, 'half a sentinel: compared as it is');
  assert.equal(check({}, { region: null, note: 'x' }), undefined, 'a null argument needs no header');
});

test('disagreeing headers are -32020: mismatch, missing, extra, malformed base64, wrong types', () => {
  assert.match(check({ 'mcp-param-region': 'eu' }, { region: 'us' }) ?? '', /Mcp-Param-Region is eu/);
  assert.match(check({}, { region: 'test-value' }) ?? '', /header, which is missing/);
  assert.match(check({ 'mcp-param-region': 'us' }, {}) ?? '', /argument "region" is absent/);
  assert.ok(check({ 'mcp-param-region': '=?base64?SGVsbG8?=' }, { region: 'Hello' }), 'bad padding');
  assert.ok(check({ 'mcp-param-region': '=?base64?SGVs!!!bG8=?=' }, { region: 'Hello' }), 'bad alphabet');
  assert.ok(check({ 'mcp-param-count': '42' }, { count: '42' }), 'a string is not an integer');
  assert.ok(check({ 'mcp-param-count': '' }, { count: 0 }), 'empty is not zero');
  assert.ok(check({ 'mcp-param-dry-run': 'TRUE' }, { dry: true }), 'booleans are lower case');
});

test('decodeHeaderValue: strict base64 inside the sentinel, anything else as it is', () => {
  assert.equal(decodeHeaderValue('=?base64?w6lsw6k=?='), 'élé');
  assert.equal(decodeHeaderValue('=?base64?SGVsbG8?='), undefined);
  assert.equal(decodeHeaderValue('plain'), 'plain');
});
