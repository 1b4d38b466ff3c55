/**
 * Messages a server would refuse or silently drop, found by the fuzzer: they once failed as the sandbox's fault
 * (502), as berth's own (-32603), or were never answered at all (an SDK's stdio transport drops what its schema
 * refuses). Each now gets a clear client error before any server sees it, or the server's own refusal, and the
 * session it was sent in keeps its state, as does a bystander.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../../helpers/berth.ts';
import { fixtureDir } from '../../helpers/fixtures.ts';
import { bystander, type Bystander } from '../../helpers/hostile.ts';
import { rawCall, toolText } from '../../helpers/mcp.ts';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const MODERN_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' };
const LEGACY_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

interface Answer {
  status: number;
  error?: { code: number; message: string; data?: { code?: string } };
}

async function post(node: BerthNode, runtime: string, body: unknown, headers: Record<string, string>): Promise<Answer & { headers: Headers }> {
  const response = await fetch(`${node.url}/runtimes/${runtime}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await response.text();
  // A legacy facade's answer to a call is an event stream; its last data line is the response.
  const json = text.startsWith('{')
    ? text
    : (text
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .at(-1)
        ?.slice(6) ?? '{}');
  return { status: response.status, headers: response.headers, ...(JSON.parse(json) as { error?: Answer['error'] }) };
}

describe('malformed messages cost only themselves', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let calm: Bystander;
  before(async () => {
    node = await startBerth();
    const counter = await fixtureDir('counter-server');
    await deploy(node, 'modern', counter, { transport: 'stdio' });
    await deploy(node, 'modern-http', counter, { transport: 'http' });
    await deploy(node, 'legacy', await fixtureDir('legacy-counter-server'), { transport: 'stdio' });
    calm = await bystander(node, 'modern');
  });
  after(async () => {
    await calm?.close();
    await node?.stop();
  });

  test('a modern message a server would drop without a word is refused with the reason, and its session keeps its count', async () => {
    const session = randomUUID();
    const count = async (): Promise<number> =>
      (toolText(await rawCall(node.url, 'modern', 'tools/call', 'increment', {}, { sessionId: session })) as { count: number }).count;
    assert.equal(await count(), 1);
    const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'get_count', arguments: {}, _meta: META } };
    const headers = { ...MODERN_HEADERS, 'mcp-method': 'tools/call', 'mcp-name': 'get_count', 'x-amzn-bedrock-agentcore-runtime-session-id': session };
    const cases: Array<[string, unknown, RegExp]> = [
      ['a member JSON-RPC does not define', { ...call, extra: 1 }, /member JSON-RPC does not define/],
      [
        'a progress token that is an object',
        { ...call, params: { ...call.params, _meta: { ...META, progressToken: { a: 1 } } } },
        /progressToken must be a string or an integer/,
      ],
      ['an id that is a fraction', { ...call, id: 1.5 }, /id must be a string or an integer/],
    ];
    for (const [what, body, why] of cases) {
      const answer = await post(node, 'modern', body, headers);
      assert.equal(answer.status, 400, what);
      assert.equal(answer.error?.code, -32600, what);
      assert.match(answer.error?.message ?? '', why, what);
    }
    assert.equal(await count(), 2, 'the session kept its sandbox and its count');
    await calm.check('messages a server would drop');
  });

  test("a legacy client's malformed initialize, method or name is its own error, never the sandbox's or berth's", async () => {
    const initialize = (params: Record<string, unknown>, runtime = 'legacy') =>
      post(
        node,
        runtime,
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'hostile', version: '1' }, ...params },
        },
        LEGACY_HEADERS,
      );
    for (const [what, params] of [
      ['clientInfo that is not an object', { clientInfo: false }],
      ['capabilities that are a string', { capabilities: 'x' }],
      ['a clientInfo name that is a list', { clientInfo: { name: [], version: '1' } }],
      ['a protocolVersion that is a number', { protocolVersion: 20251125 }],
    ] as const) {
      const answer = await initialize(params);
      assert.equal(answer.status, 400, what);
      assert.equal(answer.error?.data?.code, 'invalid_params', what);
    }
    // A capability of the wrong shape that only a modern server checks: its refusal reaches the client as its own.
    const refused = await initialize({ capabilities: { sampling: -1 } }, 'modern-http');
    assert.equal(refused.status, 400);
    assert.equal(refused.error?.code, -32602);
    assert.notEqual(refused.error?.data?.code, 'sandbox_failed');

    const opened = await initialize({});
    assert.equal(opened.status, 200);
    const id = opened.headers.get('mcp-session-id') as string;
    const headers = { ...LEGACY_HEADERS, 'mcp-session-id': id };
    const increment = async (): Promise<Answer> =>
      post(node, 'legacy', { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'increment', arguments: {} } }, headers);
    assert.equal((await increment()).status, 200);
    for (const [what, body, code] of [
      ['a method that cannot be a header', { jsonrpc: '2.0', id: 2, method: 'ping\u202e', params: {} }, 'invalid_request'],
      ['a method with a line break', { jsonrpc: '2.0', id: 3, method: 'tools/call\r\nX-Evil: 1', params: {} }, 'invalid_request'],
      ['a tool name of 3 MB', { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'n'.repeat(3 * 1024 * 1024), arguments: {} } }, 'invalid_params'],
    ] as const) {
      const answer = await post(node, 'legacy', body, headers);
      assert.equal(answer.error?.data?.code, code, `${what}: ${JSON.stringify(answer.error)}`);
      assert.ok(answer.status < 500, what);
    }
    assert.equal((await increment()).status, 200, "the legacy client's session lives on");
    assert.doesNotMatch(node.logs(), /unhandled|request failed/);
    await calm.check('malformed legacy messages');
  });
});
