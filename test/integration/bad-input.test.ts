/**
 * Bad input anywhere gets a clear error and harms nothing: malformed requests, bad session ids, oversized bodies,
 * unknown runtimes, servers that crash, never listen or die at start, and a full node.
 */
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' };

function toolCall(name: string, args: Record<string, unknown> = {}, id: number | string = 1): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: META } });
}

interface RpcError {
  id: unknown;
  error: { code: number; message: string; data: { code: string } };
}

/** POSTs `body` with the Mcp-Method and Mcp-Name headers a 2026-07-28 client derives from it. */
async function post(
  node: BerthNode,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: RpcError; headers: Headers }> {
  const derived: Record<string, string> = {};
  try {
    const message = JSON.parse(body) as { method?: string; params?: { name?: string } };
    if (message.method) derived['mcp-method'] = message.method;
    if (message.params?.name) derived['mcp-name'] = message.params.name;
  } catch {
    // malformed on purpose
  }
  const response = await fetch(`${node.url}${path}`, { method: 'POST', headers: { ...HEADERS, ...derived, ...headers }, body });
  return { status: response.status, json: (await response.json()) as RpcError, headers: response.headers };
}

describe('bad input', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth({ env: { BERTH_MAX_BODY_BYTES: '4096', BERTH_START_TIMEOUT_MS: '1000' } });
    const counter = await fixtureDir('counter-server');
    await deploy(node, 'good-stdio', counter, { transport: 'stdio' });
    await deploy(node, 'good-http', counter, { transport: 'http' });
    await deploy(node, 'never-listens', await fixtureDir('never-listens'), { transport: 'http', command: 'node server.js' });
    await deploy(node, 'exits-at-start', await fixtureDir('exits-at-start'), { transport: 'http', command: 'node server.js' });
    await deploy(node, 'exits-at-start-stdio', await fixtureDir('exits-at-start'), { transport: 'stdio', command: 'node server.js' });
    await deploy(node, 'exits-soon-stdio', await fixtureDir('exits-at-start'), { transport: 'stdio', command: 'node server.js 300' });
  });
  after(async () => {
    await node?.stop();
  });

  test('unknown runtime: 404 with a JSON-RPC error that names it', async () => {
    const { status, json } = await post(node, '/runtimes/nope/mcp', toolCall('increment', {}, 'q1'));
    assert.equal(status, 404);
    assert.equal(json.id, 'q1');
    assert.equal(json.error.data.code, 'runtime_not_found');
    assert.match(json.error.message, /"nope"/);
  });

  test('malformed JSON: 400 with JSON-RPC parse error -32700', async () => {
    const { status, json } = await post(node, '/runtimes/good-stdio/mcp', '{"jsonrpc": "2.0", "id": 1, "method": ');
    assert.equal(status, 400);
    assert.equal(json.error.code, -32700);
    assert.equal(json.id, null);
  });

  test('not JSON-RPC: 400 with -32600', async () => {
    const { status, json } = await post(node, '/runtimes/good-stdio/mcp', '{"hello": "world"}');
    assert.equal(status, 400);
    assert.equal(json.error.code, -32600);
  });

  test('session ids outside 33-256 characters: 400, in the header or the URL', async () => {
    for (const id of ['x'.repeat(32), 'y'.repeat(257)]) {
      const viaHeader = await post(node, '/runtimes/good-stdio/mcp', toolCall('increment'), { [SESSION_HEADER]: id });
      assert.equal(viaHeader.status, 400);
      assert.equal(viaHeader.json.error.data.code, 'invalid_session_id');
      const viaUrl = await post(node, `/runtimes/good-stdio/sessions/${id}/mcp`, toolCall('increment'));
      assert.equal(viaUrl.status, 400);
    }
    assert.equal((await node.api.sessions('good-stdio')).length, 0, 'no sandbox was made for a bad id');
  });

  test('a body over the limit: 413, declared or streamed', async () => {
    const big = toolCall('write_file', { name: 'x', content: 'z'.repeat(10_000) });
    const declared = await post(node, '/runtimes/good-stdio/mcp', big);
    assert.equal(declared.status, 413);
    assert.equal(declared.json.error.data.code, 'body_too_large');
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(big.slice(i * 1000, (i + 1) * 1000)));
        controller.enqueue(new TextEncoder().encode(big.slice(10_000)));
        controller.close();
      },
    });
    const streamed = await fetch(`${node.url}/runtimes/good-stdio/mcp`, {
      method: 'POST',
      headers: { ...HEADERS, 'mcp-method': 'tools/call', 'mcp-name': 'write_file' },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    assert.equal(streamed.status, 413);
  });

  for (const runtime of ['good-stdio', 'good-http']) {
    test(`${runtime}: Mcp-Param headers must agree with the arguments they mirror (-32020), once berth has seen the tool listed`, async () => {
      const sessionId = randomUUID();
      const session = { [SESSION_HEADER]: sessionId };
      const path = `/runtimes/${runtime}/mcp`;
      const list = await fetch(`${node.url}${path}`, {
        method: 'POST',
        headers: { ...HEADERS, ...session, 'mcp-method': 'tools/list' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } }),
      });
      const listed = (await list.json()) as {
        result: { tools: Array<{ name: string; inputSchema: { properties: Record<string, Record<string, unknown>> } }> };
      };
      assert.equal(listed.result.tools.find((tool) => tool.name === 'where')?.inputSchema.properties.region?.['x-mcp-header'], 'Region');
      const agreeing = await post(node, path, toolCall('where', { region: 'Zürich' }), {
        ...session,
        'mcp-param-region': `=?base64?${Buffer.from('Zürich').toString('base64')}?=`,
      });
      assert.equal(agreeing.status, 200);
      for (const [header, why] of [
        ['eu-west', 'different'],
        [undefined, 'missing'],
        ['=?base64?WsO8cmljaA?=', 'bad padding'],
      ] as const) {
        const refused = await post(
          node,
          path,
          toolCall('where', { region: 'Zürich' }),
          header === undefined ? session : { ...session, 'mcp-param-region': header },
        );
        assert.equal(refused.status, 400, why);
        assert.equal(refused.json.error.code, -32020, why);
      }
    });
  }

  test('wrong media type is 415; GET and DELETE on an MCP endpoint are 405', async () => {
    const text = await fetch(`${node.url}/runtimes/good-stdio/mcp`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' });
    assert.equal(text.status, 415);
    for (const method of ['GET', 'DELETE']) {
      const refused = await fetch(`${node.url}/runtimes/good-stdio/mcp`, { method });
      assert.equal(refused.status, 405);
      assert.equal(refused.headers.get('allow'), 'POST');
    }
    const wrongVerb = await node.admin(`/v1/sessions/some-session`, { method: 'PATCH' });
    assert.equal(wrongVerb.status, 405);
    assert.equal(wrongVerb.headers.get('allow'), 'GET, DELETE');
  });

  for (const runtime of ['good-stdio', 'good-http']) {
    test(`${runtime}: a server that crashes mid-call gets a clear error now and a fresh sandbox next`, async () => {
      const sessionId = randomUUID();
      const s = await connectSession(node.url, runtime, sessionId);
      try {
        assert.deepEqual(await s.call('increment'), { count: 1 });
        const crash = await post(node, '/runtimes/' + runtime + '/mcp', toolCall('crash', { code: 3 }, 'c1'), {
          [SESSION_HEADER]: sessionId,
          'mcp-method': 'tools/call',
          'mcp-name': 'crash',
        });
        assert.equal(crash.status, 502);
        assert.equal(crash.json.id, 'c1');
        assert.equal(crash.json.error.data.code, 'server_crashed');
        assert.match(crash.json.error.message, new RegExp(`runtime "${runtime}": its server exited \\(exit code 3\\)`));
        assert.deepEqual(await s.call('increment'), { count: 1 }, 'the next request starts a fresh sandbox');
      } finally {
        await s.close();
      }
    });
  }

  test('a server that never listens: a clear error naming the runtime, within the start timeout', async () => {
    const { status, json } = await post(node, '/runtimes/never-listens/mcp', toolCall('increment'));
    assert.equal(status, 504);
    assert.equal(json.error.data.code, 'server_start_timeout');
    assert.match(json.error.message, /runtime "never-listens"/);
    assert.match(json.error.message, /port 8000 within 1000 ms/);
    assert.equal((await node.api.sessions('never-listens')).length, 0);
  });

  test('a server that exits at start: a clear error naming the runtime and its exit code', async () => {
    const http = await post(node, '/runtimes/exits-at-start/mcp', toolCall('increment'));
    assert.equal(http.status, 502);
    assert.equal(http.json.error.data.code, 'sandbox_failed');
    assert.match(http.json.error.message, /runtime "exits-at-start".*exit code 4.*before it listened/);
    // A stdio server counts as ready once it runs, so whether its exit is seen before or after readiness is a race:
    // either answer is a clear error that names the runtime and the exit code.
    const stdio = await post(node, '/runtimes/exits-at-start-stdio/mcp', toolCall('increment'));
    assert.equal(stdio.status, 502);
    assert.ok(['sandbox_failed', 'server_crashed'].includes(stdio.json.error.data.code), stdio.json.error.data.code);
    assert.match(stdio.json.error.message, /runtime "exits-at-start-stdio".*exit code 4/);
    // Started, then dead before it answered anything: a start failure at once, not a wait for the start timeout.
    const soon = await post(node, '/runtimes/exits-soon-stdio/mcp', toolCall('increment'));
    assert.equal(soon.json.error.data.code, 'sandbox_failed');
    assert.match(soon.json.error.message, /runtime "exits-soon-stdio".*exit code 4.*before it answered/);
  });

  test('the control plane answers bad deploys with what to fix', async () => {
    const badJson = await node.admin(`/v1/runtimes/x`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{' });
    assert.equal(badJson.status, 400);
    const missing = await node.admin(`/v1/runtimes/x`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ artifactId: 'art_aaaaaaaaaaaaaaaa', command: 'node s.js' }),
    });
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: { message: string } }).error.message, /POST \/v1\/artifacts/);
    const invalid = await node.admin(`/v1/runtimes/x`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ artifactId: 'art_aaaaaaaaaaaaaaaa', command: '', transport: 'carrier-pigeon', env: { '1BAD': 'v' } }),
    });
    assert.equal(invalid.status, 400);
    const message = ((await invalid.json()) as { error: { message: string } }).error.message;
    assert.match(message, /command/);
    assert.match(message, /transport/);
    assert.match(message, /1BAD/);
    // A NUL would end a variable early in the kernel, or smuggle options into bwrap's NUL-separated argument list.
    const nul = await node.admin(`/v1/runtimes/x`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ artifactId: 'art_aaaaaaaaaaaaaaaa', command: 'node\u0000s.js', env: { OK: 'a\u0000--bind\u0000/\u0000/host' } }),
    });
    assert.equal(nul.status, 400);
    const nulMessage = ((await nul.json()) as { error: { message: string } }).error.message;
    assert.match(nulMessage, /command: must not contain NUL/);
    assert.match(nulMessage, /env\.OK: must not contain NUL/);
    const badName = await node.admin(`/v1/runtimes/has%20space`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(badName.status, 400);
  });
});

describe('a full node', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  test('refuses a new session past its cap with 429 and Retry-After, and keeps serving the ones it has', async () => {
    const node = await startBerth({ env: { BERTH_MAX_SESSIONS: '1' } });
    try {
      await deploy(node, 'capped', await fixtureDir('counter-server'), { transport: 'stdio' });
      const first = await connectSession(node.url, 'capped');
      await first.call('increment');
      const { status, json, headers } = await post(node, '/runtimes/capped/mcp', toolCall('increment'), { [SESSION_HEADER]: randomUUID() });
      assert.equal(status, 429);
      assert.equal(json.error.data.code, 'session_limit');
      assert.ok(Number(headers.get('retry-after')) > 0);
      assert.deepEqual(await first.call('increment'), { count: 2 });
      await first.close();
    } finally {
      await node.stop();
    }
  });
});
