/**
 * Deep nesting against a real node (issue 13, item 5): 5 000 levels of JSON (20 KB) in a request body used to crash
 * the session's supervisor (JSON.stringify overflowed the stack while it wrote the call to the server, inside a
 * promise nobody caught), losing the session's state. Now a client's deep message is refused with -32600 at the
 * edge, and again by the supervisor should one get past the edge; a server's deep or huge message costs that call
 * alone. Every test checks that the node answers, that a bystander session keeps its state, and that the attacked
 * session does too.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../../helpers/berth.ts';
import { fixtureDir } from '../../helpers/fixtures.ts';
import { rawCall, toolText } from '../../helpers/mcp.ts';

const DEPTH = 5000;
const nested = (levels: number): string => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const MODERN_META = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}';

/**
 * A server that sends what a hostile one would, written by hand so nothing in between tidies its output:
 * `node server.js stdio` speaks 2026-07-28 on stdio; `node server.js http` speaks 2025-11-25 Streamable HTTP on $PORT,
 * answering calls on SSE streams. Both keep a counter.
 */
const HOSTILE_SERVER = String.raw`
const http = require('node:http');
const DEPTH = ${DEPTH};
const nested = (levels) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const HUGE = 17 * 1024 * 1024;
let count = 0;
const text = (value) => ({ content: [{ type: 'text', text: JSON.stringify(value) }] });

/** The JSON texts that answer tool call 'name' with id 'id', in order: notifications first, the response last. */
function answers(name, id, modern) {
  const done = (result) => JSON.stringify({ jsonrpc: '2.0', id, result: modern ? { ...result, resultType: 'complete' } : result });
  switch (name) {
    case 'increment': count++; return [done(text({ count }))];
    case 'get_count': return [done(text({ count }))];
    case 'deep_answer': return ['{"jsonrpc":"2.0","id":' + JSON.stringify(id) + ',"result":{"content":[],"structuredContent":' + nested(DEPTH) + '}}'];
    case 'huge_answer': return ['{"result":{"content":[{"type":"text","text":"' + 'x'.repeat(HUGE) + '"}]},"jsonrpc":"2.0","id":' + JSON.stringify(id) + '}'];
    case 'deep_log': return ['{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"error","data":' + nested(DEPTH) + '}}', done(text('logged'))];
    default: return [JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32602, message: 'unknown tool ' + name } })];
  }
}

const serverInfo = { name: 'hostile', version: '1.0.0' };
if (process.argv[2] === 'stdio') {
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
      const message = JSON.parse(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      if (message.id === undefined) continue;
      let out;
      if (message.method === 'server/discover') out = [JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, serverInfo, resultType: 'complete' } })];
      else if (message.method === 'tools/call') out = answers(message.params.name, message.id, true);
      else out = [JSON.stringify({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'no ' + message.method } })];
      for (const line of out) process.stdout.write(line + '\n');
    }
  });
} else {
  http.createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const message = JSON.parse(body);
      if (message.id === undefined || !message.method) return void res.writeHead(202).end();
      if (message.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'hostile-session' });
        return void res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo } }));
      }
      const out = message.method === 'tools/call' ? answers(message.params.name, message.id, false) : [JSON.stringify({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'no ' + message.method } })];
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const data of out) res.write('event: message\ndata: ' + data + '\n\n');
      res.end();
    });
  }).listen(Number(process.env.PORT), '127.0.0.1');
}
`;

/** Where the hostile server's code is written; removed when the suite ends. */
const HOSTILE_DIR = join(tmpdir(), `berth-hostile-json-${process.pid}`);

function hostileDir(): string {
  const dir = HOSTILE_DIR;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server.js'), HOSTILE_SERVER);
  return dir;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A request straight to a sandbox's supervisor, on its channel socket: what the edge would have sent, had it let it pass. */
function toSupervisor(socketPath: string, body: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: '/mcp',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('deep JSON does not cost a session its state', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  const bystander = randomUUID();
  let bystanderCount = 0;

  before(async () => {
    node = await startBerth();
    await deploy(node, 'counter', await fixtureDir('counter-server'), { transport: 'stdio' });
    await deploy(node, 'bridged', await fixtureDir('legacy-counter-server'), { transport: 'http' });
    await deploy(node, 'hostile-stdio', hostileDir(), { transport: 'stdio' });
    await deploy(node, 'hostile-legacy', hostileDir(), { transport: 'http' });
    for (let i = 0; i < 2; i++)
      bystanderCount = (toolText(await rawCall(node.url, 'counter', 'tools/call', 'increment', {}, { sessionId: bystander })) as { count: number }).count;
    assert.equal(bystanderCount, 2);
  });
  after(async () => {
    await node?.stop();
    rmSync(HOSTILE_DIR, { recursive: true, force: true });
  });

  /** The node answers, and the bystander's sandbox still counts on from where it was. */
  async function bystanderUnharmed(): Promise<void> {
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    const next = toolText(await rawCall(node.url, 'counter', 'tools/call', 'increment', {}, { sessionId: bystander })) as { count: number };
    bystanderCount++;
    assert.equal(next.count, bystanderCount, 'the bystander session kept its state');
  }

  const sandboxOf = async (runtime: string, sessionId: string): Promise<string | undefined> =>
    (await node.api.sessions(runtime)).find((s) => s.id === sessionId)?.sandboxId;
  const increment = async (runtime: string, sessionId: string): Promise<number> =>
    (toolText(await rawCall(node.url, runtime, 'tools/call', 'increment', {}, { sessionId })) as { count: number }).count;

  test(`a tools/call whose arguments nest ${DEPTH} deep gets -32600 from the edge, and its session keeps its state`, async () => {
    for (const runtime of ['counter', 'bridged']) {
      const sessionId = randomUUID();
      assert.equal(await increment(runtime, sessionId), 1);
      const sandbox = await sandboxOf(runtime, sessionId);
      const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"increment",${MODERN_META},"arguments":{"deep":${nested(DEPTH)}}}}`;
      const response = await fetch(`${node.url}/runtimes/${runtime}/mcp`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'increment',
          [SESSION_HEADER]: sessionId,
        },
      });
      assert.equal(response.status, 400);
      const answer = (await response.json()) as { error: { code: number; message: string; data: { code: string } } };
      assert.equal(answer.error.code, -32600);
      assert.equal(answer.error.data.code, 'invalid_request');
      assert.match(answer.error.message, /nests more than 64 levels deep/);
      assert.equal(await increment(runtime, sessionId), 2, `${runtime}: the attacked session kept its state`);
      assert.equal(await sandboxOf(runtime, sessionId), sandbox, `${runtime}: in the same sandbox`);
    }
    await bystanderUnharmed();
  });

  test('a legacy client sending the same gets -32600 too, and its MCP session goes on', async () => {
    const post = (body: string, sessionId?: string) =>
      fetch(`${node.url}/runtimes/counter/mcp`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
          ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
        },
      });
    const init = await post(
      '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}',
    );
    const sessionId = init.headers.get('mcp-session-id') as string;
    assert.ok(sessionId);
    await init.text();
    const count = async (): Promise<string> => {
      const text = await (await post('{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"increment","arguments":{}}}', sessionId)).text();
      return /\\"count\\":(\d+)/.exec(text)?.[1] ?? text;
    };
    assert.equal(await count(), '1');
    const deep = await post(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"increment","arguments":{"deep":${nested(DEPTH)}}}}`, sessionId);
    assert.equal(deep.status, 400);
    const answer = (await deep.json()) as { error: { code: number; message: string } };
    assert.equal(answer.error.code, -32600);
    assert.match(answer.error.message, /nests more than 64 levels deep/);
    assert.equal(await count(), '2');
    await bystanderUnharmed();
  });

  test('the supervisor refuses a deep message that reaches it past the edge, and the session goes on', async () => {
    for (const runtime of ['counter', 'bridged']) {
      const sessionId = randomUUID();
      assert.equal(await increment(runtime, sessionId), 1);
      const sandbox = await sandboxOf(runtime, sessionId);
      // The channel of a sandbox whose server berth supervises from its own process (a stdio server's) is berth's.
      const dir = join(node.home, 'sandboxes', sandbox as string);
      const socket = existsSync(join(dir, 'h.sock')) ? join(dir, 'h.sock') : join(dir, 'c.sock');
      const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"increment",${MODERN_META},"arguments":{"deep":${nested(DEPTH)}}}}`;
      const answer = await toSupervisor(socket, body, {
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'increment',
      });
      assert.equal(answer.status, 400, answer.text);
      assert.equal(answer.headers['x-berth-error'], 'invalid_request');
      assert.match(answer.text, /nests more than 64 levels deep/);
      assert.equal(await increment(runtime, sessionId), 2, `${runtime}: the supervisor lived, and the session kept its state`);
      assert.equal(await sandboxOf(runtime, sessionId), sandbox);
    }
    await bystanderUnharmed();
  });

  test("a server's deep or huge message fails that call alone, says why, and its session goes on", async () => {
    for (const runtime of ['hostile-stdio', 'hostile-legacy']) {
      const sessionId = randomUUID();
      assert.equal(await increment(runtime, sessionId), 1);
      const sandbox = await sandboxOf(runtime, sessionId);
      for (const [tool, why] of [
        ['deep_answer', /nested more than 512 levels deep, which berth does not relay/],
        ['huge_answer', /(over|larger than) (the )?16777216 (bytes|characters|berth reads whole)/],
      ] as const) {
        const answer = await rawCall(node.url, runtime, 'tools/call', tool, {}, { sessionId });
        assert.equal(answer.response.error?.code, -32000, `${runtime} ${tool}: ${JSON.stringify(answer.response).slice(0, 300)}`);
        assert.equal(answer.response.error?.data?.code, 'sandbox_failed', `${runtime} ${tool}: ${answer.response.error?.message}`);
        assert.match(answer.response.error?.message ?? '', why);
      }
      const logged = await rawCall(node.url, runtime, 'tools/call', 'deep_log', {}, { sessionId, meta: { 'io.modelcontextprotocol/logLevel': 'debug' } });
      assert.deepEqual(toolText(logged), 'logged', `${runtime}: a deep log line is dropped, the call's answer arrives`);
      assert.equal(await increment(runtime, sessionId), 2, `${runtime}: the session kept its state`);
      assert.equal(await sandboxOf(runtime, sessionId), sandbox);
      const logs = await node.admin(`/v1/sessions/${sessionId}/logs`);
      assert.equal(logs.status, 200);
      assert.match(await logs.text(), /berth: the server sent a message nested more than 512 levels deep/, "the session's log says what was dropped");
    }
    await bystanderUnharmed();
  });
});
