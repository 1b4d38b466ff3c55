/**
 * Answers keep their length on the way out (issue 15's lean hot path): a server's JSON answer reaches the client
 * with its Content-Length, not re-chunked, whether the server speaks HTTP or stdio and whether berth sealed a
 * requestState into it. A server that promises more than it sends gets its client a clear error, and the session
 * and the node go on.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } } };

describe('answers keep their length', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    const minimal = await fixtureDir('minimal-server');
    await deploy(node, 'minimal-http', minimal, { transport: 'http' });
    await deploy(node, 'minimal-stdio', minimal, { transport: 'stdio' });
    await deploy(node, 'short', minimal, { transport: 'http', env: { SHORT_ANSWERS: '1' } });
    await deploy(node, 'mrtr', await fixtureDir('conformance-modern'), { transport: 'http', command: 'node server.js http' });
  });
  after(async () => {
    await node?.stop();
  });

  async function call(
    runtime: string,
    session: string,
    name: string,
  ): Promise<{ status: number; headers: Record<string, unknown>; text: string; bytes: number }> {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: {}, _meta: META } });
    const answer = await request(`${node.url}/runtimes/${runtime}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': name,
        [SESSION_HEADER]: session,
      },
      body,
    });
    const raw = Buffer.from(await answer.body.arrayBuffer());
    return { status: answer.statusCode, headers: answer.headers, text: raw.toString('utf8'), bytes: raw.length };
  }

  for (const runtime of ['minimal-http', 'minimal-stdio']) {
    test(`${runtime}: a tools/call answer goes out with its length, not chunked`, async () => {
      const answer = await call(runtime, randomUUID(), 'increment');
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.headers['transfer-encoding'], undefined);
      assert.equal(Number(answer.headers['content-length']), answer.bytes);
      assert.match(answer.text, /count/);
    });
  }

  test('an input_required answer whose requestState berth sealed has the sealed length', async () => {
    const answer = await call('mrtr', randomUUID(), 'test_input_required_result_request_state');
    assert.equal(answer.status, 200, answer.text);
    const parsed = JSON.parse(answer.text) as { result: { resultType: string; requestState: string } };
    assert.equal(parsed.result.resultType, 'input_required');
    assert.match(parsed.result.requestState, /^b1\./, 'sealed by the edge');
    assert.equal(answer.headers['transfer-encoding'], undefined);
    assert.equal(Number(answer.headers['content-length']), answer.bytes);
  });

  test('a server that promises more than it sends: its client gets a JSON-RPC error, and the node goes on', async () => {
    const session = randomUUID();
    const answer = await call('short', session, 'increment');
    assert.equal(
      answer.headers['content-length'] === undefined || Number(answer.headers['content-length']) === answer.bytes,
      true,
      'whatever berth sends, it sends whole',
    );
    const parsed = JSON.parse(answer.text) as { id: number; error?: { code: number; message: string; data?: { code: string } } };
    assert.equal(parsed.id, 7);
    assert.ok(parsed.error, answer.text);
    assert.ok(parsed.error.message.length > 20, 'the message says what happened');
    const healthy = await call('minimal-http', randomUUID(), 'increment');
    assert.equal(healthy.status, 200);
  });
});
