/**
 * AgentCore's bidirectional streaming through a real berth node: an agent built with the `bedrock-agentcore` SDK's
 * own BedrockAgentCoreApp (its `/ws` handler), made through AgentCore's control API, reached by the SDK's
 * RuntimeClient over WebSocket with SigV4 headers, with an AWS presigned URL, and on berth's own route with an API
 * key as a header or as a subprotocol. A session's state lives across connections and invocations, another
 * session's is its own, and hostile handshakes and frames are refused with a clear error that costs nothing else.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { BedrockAgentCoreClient, InvokeAgentRuntimeCommand } from '@aws-sdk/client-bedrock-agentcore';
import { BedrockAgentCoreControlClient } from '@aws-sdk/client-bedrock-agentcore-control';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir, fixtureDirWith } from '../helpers/fixtures.ts';
import { AWS_ENV, AWS_KEYS, createCodeRuntime, runtimeClientFor } from '../helpers/aws.ts';
import { waitFor } from '../helpers/wait.ts';
import type { RuntimeClient } from 'bedrock-agentcore/runtime';

const SDK_PACKAGES = ['@fastify/sse', '@fastify/websocket'];

/** The next message on `ws`, as text, or its close. */
function next(ws: WebSocket): Promise<{ data: WebSocket.RawData; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: WebSocket.RawData, binary: boolean): void => {
      ws.off('close', onClose);
      resolve({ data, binary });
    };
    const onClose = (code: number, reason: Buffer): void => {
      ws.off('message', onMessage);
      reject(new Error(`closed ${code} ${reason.toString()}`));
    };
    ws.once('message', onMessage);
    ws.once('close', onClose);
  });
}

async function ask(ws: WebSocket, message: Record<string, unknown>): Promise<Record<string, unknown>> {
  const reply = next(ws);
  ws.send(JSON.stringify(message));
  return JSON.parse((await reply).data.toString()) as Record<string, unknown>;
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** What a WebSocket handshake that berth refuses gets: its status and body. */
function refused(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { connection: 'Upgrade', upgrade: 'websocket', ...headers } });
    req.once('upgrade', () => reject(new Error('the handshake was accepted')));
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('WebSockets to agents', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let arn: string;
  let data: BedrockAgentCoreClient;
  let control: BedrockAgentCoreControlClient;
  let runtimes: RuntimeClient;

  before(async () => {
    node = await startBerth({ env: { ...AWS_ENV, BERTH_WS_MAX_MESSAGE_BYTES: String(256 * 1024), BERTH_WS_FRAMES_PER_SECOND: '200' } });
    const clientConfig = { endpoint: node.url, region: 'us-west-2', credentials: AWS_KEYS, maxAttempts: 1 };
    control = new BedrockAgentCoreControlClient(clientConfig);
    data = new BedrockAgentCoreClient(clientConfig);
    const dir = await fixtureDirWith('agentcore-ws-agent', SDK_PACKAGES);
    arn = await createCodeRuntime(node, control, dir, 'ws_agent', 'server.mjs', 'HTTP');
    runtimes = runtimeClientFor(node);
  });
  after(async () => {
    control?.destroy();
    data?.destroy();
    await node?.stop();
  });

  test("RuntimeClient's SigV4 connection reaches the SDK agent's /ws: text and binary both ways, state across connections and invocations", async () => {
    const sessionId = randomUUID();
    const connection = await runtimes.generateWsConnection({ runtimeArn: arn, sessionId });
    const first = new WebSocket(connection.url, { headers: connection.headers });
    await opened(first);
    assert.deepEqual(await ask(first, { action: 'increment' }), { count: 1 });
    assert.deepEqual(await ask(first, { action: 'increment' }), { count: 2 });
    const echoed = await ask(first, { action: 'echo', word: 'hi' });
    assert.equal(echoed.sessionId, sessionId, "the agent hears the session's id");
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const binary = next(first);
    first.send(bytes);
    const back = await binary;
    assert.equal(back.binary, true);
    assert.deepEqual(Buffer.from(back.data as Buffer), bytes);
    const burst: number[] = [];
    const all = new Promise<void>((resolve) => {
      const onMessage = (message: WebSocket.RawData): void => {
        burst.push((JSON.parse(message.toString()) as { i: number }).i);
        if (burst.length === 100) {
          first.off('message', onMessage);
          resolve();
        }
      };
      first.on('message', onMessage);
    });
    first.send(JSON.stringify({ action: 'burst', n: 100 }));
    await all;
    assert.deepEqual(
      burst,
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const end = closed(first);
    first.close(1000);
    assert.equal((await end).code, 1000);

    // The same session, on a new connection and by InvokeAgentRuntime: the same process, its count going on.
    const again = await runtimes.generateWsConnection({ runtimeArn: arn, sessionId });
    const second = new WebSocket(again.url, { headers: again.headers });
    await opened(second);
    assert.deepEqual(await ask(second, { action: 'increment' }), { count: 3 });
    const invoked = await data.send(
      new InvokeAgentRuntimeCommand({
        agentRuntimeArn: arn,
        runtimeSessionId: sessionId,
        payload: new TextEncoder().encode('{"action":"increment"}'),
        contentType: 'application/json',
      }),
    );
    assert.deepEqual(JSON.parse((await invoked.response?.transformToString()) ?? ''), { count: 4 });
    second.close();

    // Another session is another sandbox.
    const other = await runtimes.generateWsConnection({ runtimeArn: arn, sessionId: randomUUID() });
    const third = new WebSocket(other.url, { headers: other.headers });
    await opened(third);
    assert.deepEqual(await ask(third, { action: 'increment' }), { count: 1 });
    third.close();
  });

  test('an AWS presigned URL connects for its session; an expired or altered one is refused', async () => {
    const sessionId = randomUUID();
    // The SDK writes presigned URLs for AWS's endpoints (wss, port 443); the signature covers the host without a port.
    const local = (url: string): string => url.replace(/^wss:\/\/127\.0\.0\.1\//, `${node.url.replace('http:', 'ws:')}/`);
    const url = local(await runtimes.generatePresignedUrl({ runtimeArn: arn, sessionId, expires: 60 }));
    const ws = new WebSocket(url);
    await opened(ws);
    assert.equal((await ask(ws, { action: 'echo' })).sessionId, sessionId, 'the session came as a query parameter');
    assert.deepEqual(await ask(ws, { action: 'increment' }), { count: 1 });
    ws.close();

    const altered = url.replace(sessionId, randomUUID());
    const refusedAltered = await refused(altered.replace('ws:', 'http:'), { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    assert.equal(refusedAltered.status, 403);
    assert.match(refusedAltered.body, /signature does not match/);
    const tooLong = url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=3600');
    const refusedLong = await refused(tooLong.replace('ws:', 'http:'), { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    assert.equal(refusedLong.status, 403);
    assert.match(refusedLong.body, /X-Amz-Expires must be 1 to 300 seconds/);
  });

  test("berth's own route: an API key in a header or as a subprotocol; a wrong key is refused", async () => {
    const dir = await fixtureDirWith('agentcore-ws-agent', SDK_PACKAGES);
    await deploy(node, 'keyed-ws', dir, { protocol: 'http', transport: 'http', port: 8080, command: 'node server.mjs', authorizer: { type: 'apiKey' } });
    const { key } = await node.api.createKey({ runtime: 'keyed-ws' });
    const base = `${node.url.replace('http:', 'ws:')}/runtimes/keyed-ws/ws`;
    const sessionId = randomUUID();
    const byHeader = new WebSocket(base, { headers: { authorization: `Bearer ${key}`, [SESSION_HEADER]: sessionId } });
    await opened(byHeader);
    assert.deepEqual(await ask(byHeader, { action: 'increment' }), { count: 1 });
    byHeader.close();
    // A browser cannot set headers: the key rides as a subprotocol, and the session as a query parameter.
    const token = Buffer.from(key).toString('base64url');
    const byProtocol = new WebSocket(`${base}?${SESSION_HEADER}=${sessionId}`, [`base64UrlBearerAuthorization.${token}`, 'base64UrlBearerAuthorization']);
    await opened(byProtocol);
    assert.equal(byProtocol.protocol, 'base64UrlBearerAuthorization');
    assert.deepEqual(await ask(byProtocol, { action: 'increment' }), { count: 2 }, 'the same session, across connections');
    byProtocol.close();
    const wrong = await refused(`${node.url}/runtimes/keyed-ws/ws`, {
      authorization: 'Bearer not-a-key',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    });
    assert.equal(wrong.status, 401);
  });

  test('an open WebSocket keeps its session from idling; closed, the session idles out as any other; another principal cannot reach it; the rate limit counts handshakes', async () => {
    const dir = await fixtureDirWith('agentcore-ws-agent', SDK_PACKAGES);
    await deploy(node, 'idle-ws', dir, { protocol: 'http', transport: 'http', port: 8080, command: 'node server.mjs', idleTimeoutSeconds: 1 });
    const sessionId = randomUUID();
    const url = `${node.url.replace('http:', 'ws:')}/runtimes/idle-ws/ws`;
    const ws = new WebSocket(url, { headers: { [SESSION_HEADER]: sessionId } });
    await opened(ws);
    assert.deepEqual(await ask(ws, { action: 'increment' }), { count: 1 });
    // Three idle timeouts pass with the connection open and quiet.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.deepEqual(await ask(ws, { action: 'increment' }), { count: 2 }, 'the same sandbox: the open connection kept it');
    ws.close();
    await waitFor(async () => !(await node.api.sessions('idle-ws')).some((session) => session.id === sessionId), 'the session to idle out once closed');
    const again = new WebSocket(url, { headers: { [SESSION_HEADER]: sessionId } });
    await opened(again);
    assert.deepEqual(await ask(again, { action: 'increment' }), { count: 1 }, 'a fresh sandbox for the same id');
    again.close();

    await deploy(node, 'bound-ws', dir, { protocol: 'http', transport: 'http', port: 8080, command: 'node server.mjs', authorizer: { type: 'apiKey' } });
    const alice = (await node.api.createKey({ runtime: 'bound-ws', user: 'alice' })).key;
    const bob = (await node.api.createKey({ runtime: 'bound-ws', user: 'bob' })).key;
    const bound = randomUUID();
    const hers = new WebSocket(`${node.url.replace('http:', 'ws:')}/runtimes/bound-ws/ws`, {
      headers: { authorization: `Bearer ${alice}`, [SESSION_HEADER]: bound },
    });
    await opened(hers);
    assert.equal((await ask(hers, { action: 'echo' })).sessionId, bound);
    const his = await refused(`${node.url}/runtimes/bound-ws/ws`, {
      authorization: `Bearer ${bob}`,
      [SESSION_HEADER]: bound,
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    });
    assert.equal(his.status, 404, "another principal's session answers as if there were none");
    hers.close();

    await deploy(node, 'limited-ws', dir, {
      protocol: 'http',
      transport: 'http',
      port: 8080,
      command: 'node server.mjs',
      rateLimits: { runtime: { perSecond: 0.1, burst: 2 } },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await refused(`${node.url}/runtimes/limited-ws/ws`, { 'sec-websocket-key': 'bad', 'sec-websocket-version': '13' })).status);
    assert.deepEqual(statuses, [400, 400, 429, 429], 'each handshake takes from the rate limit before anything else');
  });

  test('bad handshakes are refused with a clear error: no upgrade, a bad key or version, an MCP runtime, an agent without /ws', async () => {
    const unsigned = await fetch(`${node.url}/runtimes/${encodeURIComponent(arn)}/ws`);
    assert.equal(unsigned.status, 403, "AgentCore's door: an unsigned request is refused first");
    await deploy(node, 'plain-agent', await fixtureDir('http-agent'), { protocol: 'http', transport: 'http', port: 8080 });
    const url = `${node.url}/runtimes/plain-agent/ws`;
    const noUpgrade = await fetch(url);
    assert.equal(noUpgrade.status, 426);
    assert.match(((await noUpgrade.json()) as { error: { message: string } }).error.message, /WebSocket endpoint/);
    const badKey = await refused(url, { 'sec-websocket-key': 'short', 'sec-websocket-version': '13' });
    assert.equal(badKey.status, 400);
    assert.match(badKey.body, /Sec-WebSocket-Key/);
    const badVersion = await refused(url, { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '8' });
    assert.equal(badVersion.status, 426);
    const noWs = await refused(url, { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    assert.equal(noWs.status, 502);
    assert.match(noWs.body, /refused the WebSocket at \/ws with HTTP 404/);
    await deploy(node, 'mcp-server', await fixtureDir('counter-server'), { transport: 'http' });
    const mcp = await refused(`${node.url}/runtimes/mcp-server/ws`, { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    assert.equal(mcp.status, 400);
    assert.match(mcp.body, /only http and AG-UI agents serve \/ws/);
  });

  test('hostile frames: too big, unmasked and a flood are each dealt with, and the session and node go on', async () => {
    const sessionId = randomUUID();
    const connect1 = await runtimes.generateWsConnection({ runtimeArn: arn, sessionId });
    const big = new WebSocket(connect1.url, { headers: connect1.headers });
    await opened(big);
    assert.deepEqual(await ask(big, { action: 'increment' }), { count: 1 });
    const shut = closed(big);
    big.send(Buffer.alloc(300 * 1024));
    const bigEnd = await shut;
    assert.equal(bigEnd.code, 1009);
    assert.match(bigEnd.reason, /over 262144 bytes/);

    // A raw client that does not mask its frames, as RFC 6455 requires of clients.
    const raw = await runtimes.generateWsConnection({ runtimeArn: arn, sessionId });
    const { port } = new URL(node.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const path = new URL(raw.url).pathname + new URL(raw.url).search;
    const head = Object.entries({ ...raw.headers, host: `127.0.0.1:${port}` })
      .map(([name, value]) => `${name}: ${String(value)}`)
      .join('\r\n');
    socket.write(`GET ${path} HTTP/1.1\r\n${head}\r\n\r\n`);
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    await waitUntil(() => received.includes('\r\n\r\n'));
    assert.match(received.toString('latin1'), /^HTTP\/1\.1 101/);
    const afterHead = received.indexOf('\r\n\r\n') + 4;
    socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    await new Promise((resolve) => socket.once('close', resolve));
    const frame = received.subarray(afterHead);
    assert.equal(frame[0], 0x88, 'a close frame');
    assert.equal(frame.readUInt16BE(2), 1002);
    assert.match(frame.subarray(4).toString(), /must be masked/);

    // A flood is read at the frame rate (200 a second here; the gate's own test pins the pace), never dropped: every
    // frame arrives, in order, and the session keeps its state.
    const connect2 = await runtimes.generateWsConnection({ runtimeArn: arn, sessionId });
    const flood = new WebSocket(connect2.url, { headers: connect2.headers });
    await opened(flood);
    let echoes = 0;
    const allBack = new Promise<void>((resolve) => {
      const onMessage = (_data: WebSocket.RawData, binary: boolean): void => {
        if (binary && ++echoes === 600) {
          flood.off('message', onMessage);
          resolve();
        }
      };
      flood.on('message', onMessage);
    });
    for (let i = 0; i < 600; i++) flood.send(Buffer.from([i % 256]));
    await allBack;
    assert.deepEqual(await ask(flood, { action: 'increment' }), { count: 2 });
    flood.close();
    const health = await fetch(`${node.url}/healthz`);
    assert.equal(health.status, 200);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(condition(), 'timed out waiting');
}
