/**
 * WebSocket figures (issue 19), for an agent built with the `bedrock-agentcore` SDK's BedrockAgentCoreApp (its `/ws`
 * echoes binary messages), measured side by side in one run:
 *   - a round trip (a 32-byte binary message and its echo), one at a time, straight to the agent on the host and
 *     through berth to the same agent in a session's sandbox: p50 and p95, and their difference;
 *   - frames a second: one connection keeping WINDOW echoes in flight, both ways; through berth on a node whose frame
 *     rate is lifted (BERTH_WS_FRAMES_PER_SECOND) so that the relay itself is measured, and on a node with the
 *     default pace (1 000 a second per connection), which is what a client gets.
 * It prints figures; it never fails on them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import WebSocket from 'ws';
import { deploy, SESSION_HEADER, startBerth } from '../test/helpers/berth.ts';
import { fixtureDirWith } from '../test/helpers/fixtures.ts';
import { ms, percentile } from './common.ts';

const SDK_PACKAGES = ['@fastify/sse', '@fastify/websocket'];
const WINDOW = 64;

interface Options {
  quick: boolean;
}

export async function websocketBench(out: (line?: string) => void, { quick }: Options): Promise<void> {
  const trips = quick ? 300 : 2000;
  const seconds = quick ? 2 : 5;
  const dir = await fixtureDirWith('agentcore-ws-agent', SDK_PACKAGES);
  out();
  out(`WebSocket to an agent's /ws (BedrockAgentCoreApp, binary echo): ${trips} round trips one at a time, then frames a second with ${WINDOW} in flight`);
  const agent = await startAgentOnHost(dir);
  const lifted = await startBerth({ env: { BERTH_LOG_LEVEL: 'warn', BERTH_WS_FRAMES_PER_SECOND: '1000000' } });
  const paced = await startBerth({ env: { BERTH_LOG_LEVEL: 'warn' } });
  try {
    for (const node of [lifted, paced]) await deploy(node, 'ws-agent', dir, { protocol: 'http', transport: 'http', port: 8080, command: 'node server.mjs' });
    const direct = await open(`ws://127.0.0.1:${agent.port}/ws`, {});
    const viaBerth = await open(`${lifted.url.replace('http:', 'ws:')}/runtimes/ws-agent/ws`, { [SESSION_HEADER]: randomUUID() });
    const viaPaced = await open(`${paced.url.replace('http:', 'ws:')}/runtimes/ws-agent/ws`, { [SESSION_HEADER]: randomUUID() });
    // Warm both paths (the JIT, the sandbox's first messages), then sample them in turn so both see the same machine.
    for (const ws of [direct, viaBerth, viaPaced]) for (let i = 0; i < 200; i++) await roundTrip(ws);
    const straight: number[] = [];
    const through: number[] = [];
    for (let i = 0; i < trips; i++) {
      straight.push(await roundTrip(direct));
      through.push(await roundTrip(viaBerth));
    }
    const p50 = percentile(through, 50) - percentile(straight, 50);
    out(`  round trip straight  p50 ${ms(percentile(straight, 50))}   p95 ${ms(percentile(straight, 95))}`);
    out(`  round trip via berth p50 ${ms(percentile(through, 50))}   p95 ${ms(percentile(through, 95))}   (+${ms(p50)} p50)`);
    const directRate = await framesPerSecond(direct, seconds);
    const berthRate = await framesPerSecond(viaBerth, seconds);
    const pacedRate = await framesPerSecond(viaPaced, Math.min(seconds, 3));
    out(`  echoes a second straight ${directRate.toFixed(0)}   via berth ${berthRate.toFixed(0)}   ratio ${(berthRate / directRate).toFixed(2)}×`);
    out(`  echoes a second via berth at its default pace (1 000 frames a second per connection): ${pacedRate.toFixed(0)}`);
    for (const ws of [direct, viaBerth, viaPaced]) ws.close();
  } finally {
    agent.process.kill();
    await lifted.stop();
    await paced.stop();
  }
}

/** The agent run straight on the host, with a clean environment, on a free port. */
async function startAgentOnHost(dir: string): Promise<{ process: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['server.mjs'], { cwd: dir, env: { PORT: String(port), HOME: dir }, stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ping`)).ok) return { process: child, port };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error('the agent did not start on the host');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

function open(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const PAYLOAD = Buffer.alloc(32, 1);

function roundTrip(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now();
    ws.once('message', () => resolve(performance.now() - started));
    ws.send(PAYLOAD);
  });
}

/** Echoes received a second with WINDOW messages kept in flight for `seconds`. */
function framesPerSecond(ws: WebSocket, seconds: number): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now();
    const end = started + seconds * 1000;
    let received = 0;
    let inFlight = 0;
    const onMessage = (): void => {
      received++;
      inFlight--;
      if (performance.now() < end) {
        ws.send(PAYLOAD);
        inFlight++;
      } else if (inFlight === 0) {
        ws.off('message', onMessage);
        resolve(received / ((performance.now() - started) / 1000));
      }
    };
    ws.on('message', onMessage);
    for (; inFlight < WINDOW; inFlight++) ws.send(PAYLOAD);
  });
}
