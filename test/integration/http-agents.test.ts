/**
 * http agents (runtime protocol `http`, AgentCore's HTTP contract) through a real berth node on the bwrap driver:
 * `POST /runtimes/{name}/invocations` routes by the session header, streams both ways unbuffered, passes the
 * platform's headers, cancels on disconnect, and a HealthyBusy agent's session is not reaped as idle.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

const REQUEST_ID_HEADER = 'x-amzn-bedrock-agentcore-runtime-request-id';
const ACTION_HEADER = 'x-amzn-bedrock-agentcore-runtime-custom-action';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The `data:` payloads of an SSE answer, parsed, one at a time as they arrive. */
async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) {
    text += decoder.decode(chunk, { stream: true });
    for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n')) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}

describe('http agents on the bwrap driver', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;

  const invoke = (
    runtime: string,
    body: unknown,
    options: { sessionId?: string; headers?: Record<string, string>; signal?: AbortSignal; query?: string } = {},
  ) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...options.headers };
    if (options.sessionId !== undefined) headers[SESSION_HEADER] = options.sessionId;
    return fetch(`${node.url}/runtimes/${runtime}/invocations${options.query ?? ''}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: options.signal,
    });
  };
  const invokeJson = async (runtime: string, body: unknown, sessionId: string): Promise<Record<string, unknown>> => {
    const response = await invoke(runtime, body, { sessionId });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get(SESSION_HEADER), sessionId);
    return (await response.json()) as Record<string, unknown>;
  };
  const session = async (runtime: string, id: string) =>
    (await node.api.sessions(runtime)).find((entry) => entry.id === id) as (Record<string, unknown> & { id: string }) | undefined;

  before(async () => {
    node = await startBerth();
    const dir = await fixtureDir('http-agent');
    await deploy(node, 'agent', dir, { protocol: 'http', transport: 'http', port: 8080, env: { AGENT_MOOD: 'cheerful' } });
    await deploy(node, 'agent-idle', dir, { protocol: 'http', transport: 'http', port: 8080, idleTimeoutSeconds: 1 });
    await deploy(node, 'mcp-counter', await fixtureDir('counter-server'), { transport: 'stdio' });
  });
  after(async () => {
    await node?.stop();
  });

  test('two sessions keep separate state, and the session header routes each invocation to its own', async () => {
    const a = randomUUID();
    const b = randomUUID();
    assert.deepEqual(await invokeJson('agent', { action: 'increment' }, a), { count: 1 });
    assert.deepEqual(await invokeJson('agent', { action: 'increment' }, a), { count: 2 });
    assert.deepEqual(await invokeJson('agent', { action: 'increment' }, b), { count: 1 });
    assert.deepEqual(await invokeJson('agent', { action: 'increment' }, a), { count: 3 });
    const sessions = (await node.api.sessions('agent')).filter((entry) => entry.id === a || entry.id === b);
    assert.equal(new Set(sessions.map((entry) => entry.pid)).size, 2, 'each session has its own sandbox');
  });

  test('berth mints a session when the caller names none and returns it in the session header', async () => {
    const first = await invoke('agent', { action: 'increment' });
    assert.equal(first.status, 200);
    const minted = first.headers.get(SESSION_HEADER);
    assert.match(minted ?? '', UUID);
    assert.deepEqual(await first.json(), { count: 1 });
    assert.deepEqual(await invokeJson('agent', { action: 'increment' }, minted as string), { count: 2 });
    assert.ok(await session('agent', minted as string));
  });

  test("the runtime's declared environment reaches the agent, and ?endpoint picks the endpoint", async () => {
    const s = randomUUID();
    const response = await invoke('agent', { action: 'env' }, { sessionId: s, query: '?endpoint=DEFAULT' });
    assert.equal(response.status, 200);
    const { env, cwd } = (await response.json()) as { env: Record<string, string>; cwd: string };
    assert.deepEqual(Object.keys(env).sort(), ['AGENT_MOOD', 'HOME', 'PATH', 'PORT']);
    assert.equal(env.PORT, '8080');
    assert.equal(cwd, '/app');
    const missing = await invoke('agent', { action: 'env' }, { sessionId: s, query: '?endpoint=NOPE' });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'endpoint_not_found');
  });

  test('an SSE answer streams through unbuffered: the first event arrives while the agent holds back the rest', async () => {
    const s = randomUUID();
    const response = await invoke('agent', { action: 'stream', events: 4, gate: 'g1' }, { sessionId: s });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(response.headers.get(SESSION_HEADER), s);
    const events = sseEvents(response.body as AsyncIterable<Uint8Array>);
    // The agent sends events 2..4 only once the gate opens, and only this client, having seen event 1, opens it:
    // if berth held the answer back until its end, this would never finish.
    assert.deepEqual((await events.next()).value, { i: 1 });
    assert.deepEqual(await invokeJson('agent', { action: 'open', gate: 'g1' }, s), { opened: true });
    const rest: unknown[] = [];
    for (let next = await events.next(); !next.done; next = await events.next()) rest.push(next.value);
    assert.deepEqual(rest, [{ i: 2 }, { i: 3 }, { i: 4 }]);
  });

  test('the request body streams to the agent as it is sent, not once it is whole', async () => {
    const s = randomUUID();
    const req = httpRequest(`${node.url}/runtimes/agent/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', [SESSION_HEADER]: s, [ACTION_HEADER]: 'chunks' },
    });
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    let sent = 0;
    const send = (bytes: number): void => {
      req.write(Buffer.alloc(bytes, 'x'));
      sent += bytes;
    };
    send(1000);
    const response = await answered;
    assert.equal(response.statusCode, 200);
    const events = sseEvents(response);
    // Each next piece goes out only once the agent has said it got everything so far.
    for (const bytes of [2000, 3000]) {
      for (let seen = 0; seen < sent;) seen = ((await events.next()).value as { bytes: number }).bytes;
      send(bytes);
    }
    req.end();
    let last: unknown;
    for (let next = await events.next(); !next.done; next = await events.next()) last = next.value;
    assert.deepEqual(last, { done: 6000 });
  });

  test("a body past the node's limit is refused with 413, declared or not", async () => {
    const s = randomUUID();
    const big = Buffer.alloc(5 * 1024 * 1024, 'x');
    const declared = await fetch(`${node.url}/runtimes/agent/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', [SESSION_HEADER]: s, [ACTION_HEADER]: 'size' },
      body: big,
    });
    assert.equal(declared.status, 413);
    assert.equal(((await declared.json()) as { error: { code: string } }).error.code, 'body_too_large');
    assert.equal(await session('agent', s), undefined, 'no sandbox starts for a body known to be too large');

    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${node.url}/runtimes/agent/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', [SESSION_HEADER]: s, [ACTION_HEADER]: 'size' },
      });
      req.once('error', reject);
      req.once('response', (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.once('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      const piece = Buffer.alloc(256 * 1024, 'y');
      let pieces = 0;
      const pump = (): void => {
        while (pieces < 20) {
          pieces++;
          if (!req.write(piece)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    assert.equal(streamed.status, 413, streamed.body);
    assert.equal((JSON.parse(streamed.body) as { error: { code: string } }).error.code, 'body_too_large');
    // Under the limit, the whole body arrives.
    const fits = await fetch(`${node.url}/runtimes/agent/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', [SESSION_HEADER]: s, [ACTION_HEADER]: 'size' },
      body: Buffer.alloc(3 * 1024 * 1024, 'z'),
    });
    assert.deepEqual(await fits.json(), { size: 3 * 1024 * 1024 });
  });

  test('the platform headers reach the agent: session, a fresh request id, content negotiation and tracing; others do not', async () => {
    const s = randomUUID();
    const sent = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'vendor=opaque',
      baggage: 'user=alice',
      'x-amzn-trace-id': 'Root=1-5759e988-bd862e3fe1be46a994272793',
      'x-amzn-bedrock-agentcore-runtime-custom-flavour': 'mint',
      [REQUEST_ID_HEADER]: 'forged-by-the-caller',
      authorization: 'Bearer not-for-the-agent',
      cookie: 'session=not-for-the-agent',
      'x-berth-error': 'server_crashed',
      'x-something-else': 'no',
    };
    const echo = async (): Promise<Record<string, string>> => {
      const response = await invoke('agent', { action: 'echo' }, { sessionId: s, headers: sent });
      assert.equal(response.status, 200);
      return ((await response.json()) as { headers: Record<string, string> }).headers;
    };
    const first = await echo();
    const second = await echo();
    assert.equal(first[SESSION_HEADER], s);
    assert.match(first[REQUEST_ID_HEADER] ?? '', UUID);
    assert.match(second[REQUEST_ID_HEADER] ?? '', UUID);
    assert.notEqual(first[REQUEST_ID_HEADER], second[REQUEST_ID_HEADER], 'each invocation has its own request id');
    assert.equal(first['content-type'], 'application/json');
    assert.equal(first.accept, 'application/json, text/event-stream');
    for (const name of ['traceparent', 'tracestate', 'baggage', 'x-amzn-trace-id', 'x-amzn-bedrock-agentcore-runtime-custom-flavour'] as const) {
      assert.equal(first[name], sent[name], name);
    }
    for (const name of ['authorization', 'cookie', 'x-berth-error', 'x-something-else']) assert.equal(first[name], undefined, name);
  });

  test("the agent's own status and body reach the caller", async () => {
    const s = randomUUID();
    const teapot = await invoke('agent', { action: 'status', status: 418 }, { sessionId: s });
    assert.equal(teapot.status, 418);
    assert.equal(teapot.headers.get('content-type'), 'application/json');
    assert.deepEqual(await teapot.json(), { asked: 418 });
    const failed = await invoke('agent', { action: 'status', status: 500 }, { sessionId: s });
    assert.equal(failed.status, 500);
    assert.deepEqual(await failed.json(), { asked: 500 });
  });

  test("a caller that goes away aborts the agent's request", async () => {
    const s = randomUUID();
    await invokeJson('agent', { action: 'increment' }, s);
    const controller = new AbortController();
    const call = invoke('agent', { action: 'wait', ms: 120_000 }, { sessionId: s, signal: controller.signal });
    await waitFor(async () => (await session('agent', s))?.inFlight === 1, 'the invocation to be in flight');
    controller.abort();
    await assert.rejects(call);
    await waitFor(async () => (await invokeJson('agent', { action: 'stats' }, s)).aborted === 1, 'the agent to see its request aborted');
    await waitFor(async () => (await session('agent', s))?.inFlight === 0, 'the invocation to leave flight');
  });

  test('a HealthyBusy agent is not reaped at its idle timeout; a Healthy one is, and so is the busy one once it is done', async () => {
    const busy = randomUUID();
    const healthy = randomUUID();
    assert.deepEqual(await invokeJson('agent-idle', { action: 'increment' }, busy), { count: 1 });
    await invokeJson('agent-idle', { action: 'busy', seconds: 4 }, busy);
    const busySince = Date.now();
    assert.deepEqual(await invokeJson('agent-idle', { action: 'increment' }, healthy), { count: 1 });
    await waitFor(async () => (await session('agent-idle', busy))?.busy === true, 'the busy agent to show as busy');
    await waitFor(async () => (await session('agent-idle', healthy)) === undefined, 'the healthy session to idle away');
    const ended = (await (await node.admin(`/v1/sessions/${healthy}`)).json()) as { reason: string };
    assert.equal(ended.reason, 'idle');
    assert.ok(Date.now() - busySince < 4000, 'the healthy session ended while the other was busy');
    const info = await session('agent-idle', busy);
    assert.equal(info?.busy, true);
    assert.equal(info?.inFlight, 0);
    // Still the same sandbox, state and all, well past the 1 s idle timeout.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 2500 - (Date.now() - busySince))));
    assert.deepEqual(await invokeJson('agent-idle', { action: 'stats' }, busy), { count: 1, aborted: 0, busy: true });
    await waitFor(async () => (await session('agent-idle', busy)) === undefined, 'the busy session to idle away once its work is done');
    assert.ok(Date.now() - busySince >= 4000, 'not before its work was done');
    assert.equal(((await (await node.admin(`/v1/sessions/${busy}`)).json()) as { reason: string }).reason, 'idle');
  });

  test('an MCP runtime at /invocations and an http agent at /mcp get errors that name the right endpoint', async () => {
    const wrongWay = await invoke('mcp-counter', { action: 'increment' }, { sessionId: randomUUID() });
    assert.equal(wrongWay.status, 400);
    const error = ((await wrongWay.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'invalid_request');
    assert.match(error.message, /POST \/runtimes\/mcp-counter\/mcp/);
    assert.deepEqual(await node.api.sessions('mcp-counter'), [], 'no sandbox started');

    const agentAsMcp = await rawCall(node.url, 'agent', 'tools/list', undefined, undefined, { sessionId: randomUUID() });
    assert.equal(agentAsMcp.status, 400);
    assert.equal(agentAsMcp.response.error?.data?.code, 'invalid_request');
    assert.match(agentAsMcp.response.error?.message ?? '', /POST \/runtimes\/agent\/invocations/);
  });

  test('unknown runtimes and malformed session ids are REST errors', async () => {
    const unknown = await invoke('no-such-agent', {}, { sessionId: randomUUID() });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'runtime_not_found');
    const short = await invoke('agent', {}, { sessionId: 'too-short' });
    assert.equal(short.status, 400);
    assert.equal(((await short.json()) as { error: { code: string } }).error.code, 'invalid_session_id');
    assert.equal(short.headers.get(SESSION_HEADER), null);
  });
});
