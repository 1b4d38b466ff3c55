/**
 * The edge's pipeline in process (issue 15): a real node's store, admission, session manager, channel and relay,
 * with the fake driver's in-process sandboxes, so this runs on any machine without root or bwrap. Each door's
 * happy path beside its refusals: a refusal starts no sandbox, and the node and other sessions go on.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { FakeDriver } from '../helpers/fake-driver.ts';
import { startInProcess, type InProcessNode } from '../helpers/edge-in-process.ts';

const SESSION_HEADER = 'x-amzn-bedrock-agentcore-runtime-session-id';
const MODERN = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

function modern(method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}): RequestInit {
  const name = typeof params.name === 'string' ? { 'mcp-name': params.name } : {};
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': method,
      ...name,
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: MODERN } }),
  };
}

describe('the edge pipeline, in process', () => {
  const driver = new FakeDriver({
    // A sandbox whose server promises an answer and hangs up half way.
    hangs: (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"jsonrpc":"2.0",', () => res.destroy());
    },
  });
  let node: InProcessNode;
  let key: string;
  before(async () => {
    node = await startInProcess(driver);
    await node.deploy('open');
    await node.deploy('keyed', { authorizer: { type: 'apiKey' } });
    await node.deploy('hangs');
    key = (await node.api.createKey({ runtime: 'keyed', user: 'alice' })).key;
  });
  after(async () => {
    await node?.close();
    await driver.close();
  });

  const call = (runtime: string, init: RequestInit, path = 'mcp'): Promise<Response> => fetch(`${node.url}/runtimes/${runtime}/${path}`, init);
  const count = async (answer: Response): Promise<number> => {
    const body = (await answer.json()) as { result: { content: Array<{ text: string }> } };
    return (JSON.parse(body.result.content[0]?.text ?? '{}') as { count: number }).count;
  };

  test("a session's calls reach its one sandbox, which keeps its state; another session gets its own", async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const counts = [];
    for (const session of [a, a, b, a]) {
      const answer = await call('open', modern('tools/call', { name: 'increment', arguments: {} }, { [SESSION_HEADER]: session }));
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get(SESSION_HEADER), session);
      assert.ok(answer.headers.get('content-length'), 'the answer keeps its length');
      counts.push(await count(answer));
    }
    assert.deepEqual(counts, [1, 2, 1, 3]);
    const seen = [...driver.sandboxes.values()].filter((sandbox) => sandbox.runtime === 'open').flatMap((sandbox) => sandbox.seen);
    assert.ok(seen.every((request) => request.path === '/mcp' && request.headers.authorization === undefined));
  });

  test('the session in the URL is the same as in the header; the two naming different sessions is refused, and no sandbox starts', async () => {
    const session = randomUUID();
    const inUrl = await call(`open/sessions/${session}`, modern('tools/call', { name: 'increment', arguments: {} }));
    assert.equal(await count(inUrl), 1);
    const before = driver.sandboxes.size;
    const differ = await call(`open/sessions/${session}`, modern('tools/call', { name: 'increment', arguments: {} }, { [SESSION_HEADER]: randomUUID() }));
    assert.equal(differ.status, 400);
    assert.equal(((await differ.json()) as { error: { data: { code: string } } }).error.data.code, 'invalid_session_id');
    assert.equal(driver.sandboxes.size, before);
  });

  test("a runtime's authorizer admits its key's holder, and refuses a caller without one before anything starts", async () => {
    const before = driver.sandboxes.size;
    for (const authorization of [undefined, 'Bearer not-a-key']) {
      const refused = await call(
        'keyed',
        modern('tools/call', { name: 'increment', arguments: {} }, { [SESSION_HEADER]: randomUUID(), ...(authorization ? { authorization } : {}) }),
      );
      assert.equal(refused.status, 401);
      const body = (await refused.json()) as { jsonrpc: string; error: { data: { code: string } } };
      assert.equal(body.jsonrpc, '2.0', 'an MCP door answers in JSON-RPC');
      assert.equal(body.error.data.code, 'unauthorized');
    }
    assert.equal(driver.sandboxes.size, before);
    const admitted = await call(
      'keyed',
      modern('tools/call', { name: 'increment', arguments: {} }, { [SESSION_HEADER]: randomUUID(), authorization: `Bearer ${key}` }),
    );
    assert.equal(await count(admitted), 1);
  });

  test("a sessionless client's discover probe is answered at the edge, and starts no sandbox", async () => {
    const before = driver.sandboxes.size;
    const probe = await call('open', modern('server/discover'));
    assert.equal(probe.status, 400);
    assert.equal(((await probe.json()) as { error: { code: number } }).error.code, -32000);
    assert.equal(driver.sandboxes.size, before);
  });

  test("AgentCore's door answers in AgentCore's exceptions, from the error itself", async () => {
    const before = driver.sandboxes.size;
    const signed = await call(
      'keyed',
      {
        method: 'POST',
        headers: {
          authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=host, Signature=00',
          'content-type': 'application/json',
        },
        body: '{}',
      },
      'invocations',
    );
    assert.ok(signed.status >= 400 && signed.status < 500, String(signed.status));
    assert.ok(signed.headers.get('x-amzn-errortype'), 'a typed exception the AWS SDK reads');
    assert.equal(typeof ((await signed.json()) as { message?: unknown }).message, 'string');
    assert.equal(driver.sandboxes.size, before);
  });

  test('a sandbox that hangs up half way through its answer: a JSON-RPC error for its client, and the node and other sessions go on', async () => {
    const answer = await call('hangs', modern('tools/call', { name: 'increment', arguments: {} }, { [SESSION_HEADER]: randomUUID() }));
    const body = (await answer.json()) as { id: number; error?: { message: string } };
    assert.equal(body.id, 1);
    assert.ok(body.error && body.error.message.length > 20, JSON.stringify(body));
    const other = await call('open', modern('tools/call', { name: 'increment', arguments: {} }, { [SESSION_HEADER]: randomUUID() }));
    assert.equal(await count(other), 1);
  });

  test('a legacy client: initialize opens a session whose calls reach one sandbox', async () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const init = await call('open', {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    });
    assert.equal(init.status, 200);
    const mcpSession = init.headers.get('mcp-session-id');
    assert.ok(mcpSession);
    await init.text();
    const texts: string[] = [];
    for (let i = 1; i <= 2; i++) {
      const answer = await call('open', {
        method: 'POST',
        headers: { ...headers, 'mcp-session-id': mcpSession, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'increment', arguments: {} } }),
      });
      texts.push(await answer.text());
    }
    assert.match(texts[0] ?? '', /count\\":1/);
    assert.match(texts[1] ?? '', /count\\":2/);
  });
});
