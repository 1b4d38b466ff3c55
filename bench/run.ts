/**
 * `npm run bench`: berth's figures beside DESIGN.md's budgets. It starts a real berth node (bwrap driver) and prints
 *   - new session → first tools/call answer (no pool, and from a warm pool), p50 and p95, beside the floor: the same
 *     server started in a bare bwrap sandbox (bench/floor-start.ts);
 *   - warm tools/call latency through berth and straight to the same server, and their difference;
 *   - requests per second both ways under concurrent load, and their ratio, and the edge's CPU per warm call, one at a
 *     time and 16 at once, beside a plain Node proxy's in front of the same server (bench/floor-proxy.ts, the floor);
 *   - the same warm call on a stdio server through berth and through supergateway (the stdio → HTTP gateway a user
 *     would otherwise run, with no isolation), one session each: latency, and requests per second at 16 at once;
 *   - a warm call to a random one of 500 live sessions beside a call to one hot session, and the same for the server's
 *     own processes driven straight over stdio (the floor: a process that has not run lately is slower by itself);
 *   - berth's own memory per live session (supervisor + bwrap processes, and berth's bookkeeping) at 100 sessions;
 *   - density (bench/density.ts): creation rate as the node fills, memory at 100 and 1 000 live, idle CPU, the most
 *     sessions one node holds, and the same for gVisor at 50;
 *   - WebSockets (bench/websocket.ts): a round trip to an agent's /ws through berth and straight to it, and echoes a
 *     second both ways;
 *   - load shedding: a burst of 300 new sessions at once on a fresh node with its default admission limits, beside
 *     the same burst on a node whose admission is opened wide (what berth did before it shed load): how many were
 *     served and shed, the slowest answer, and the host's lowest available memory.
 * It prints figures; it never fails on them.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Pool } from 'undici';
import { BwrapDriver } from '../src/sandbox/drivers/bwrap/driver.ts';
import { GvisorDriver } from '../src/sandbox/drivers/gvisor/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../test/helpers/berth.ts';
import { fixtureDir } from '../test/helpers/fixtures.ts';
import { OtlpReceiver } from '../test/helpers/otlp-receiver.ts';
import { CALL_BODY, CALL_HEADERS, META, call, ms, percentile, timed } from './common.ts';
import { clusterBench } from './cluster.ts';
import { densityBench } from './density.ts';
import { websocketBench } from './websocket.ts';
import { bwrapNodeFloor } from './floor-start.ts';
import { startFloorProxy } from './floor-proxy.ts';
import { processCpuMs } from './process-cpu.ts';
import { bwrapSandbox, mb, pss } from './processes.ts';
import { startStdioServer, type StdioServer } from './stdio-spread.ts';
import { gatewayCall, openGatewaySession, startSupergateway } from './supergateway.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const NEW_SESSIONS = QUICK ? 10 : 40;
const WARM_CALLS = QUICK ? 300 : 2000;
const LOAD_SECONDS = QUICK ? 2 : 5;
const CONCURRENCY = 16;
const LIVE_SESSIONS = QUICK ? 20 : 100;
/** Live sessions a random warm call picks from. */
const SPREAD_SESSIONS = QUICK ? 50 : 500;
const BURST = QUICK ? 60 : 300;

async function newSessionLatency(pool: Pool, node: BerthNode, runtime: string, count = NEW_SESSIONS, pooled = false): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    // A pooled sample waits, untimed, for a ready sandbox: the figure is a session that finds one.
    while (pooled && !(await readyInPool(node, runtime))) await new Promise((resolve) => setTimeout(resolve, 20));
    samples.push(await timed(() => call(pool, `/runtimes/${runtime}/mcp`, id)));
    await node.admin(`/v1/sessions/${id}`, { method: 'DELETE' });
  }
  return samples;
}

async function readyInPool(node: BerthNode, runtime: string): Promise<boolean> {
  const view = (await (await node.admin(`/v1/runtimes/${runtime}`)).json()) as { warmPool?: { ready: number } };
  return (view.warmPool?.ready ?? 0) > 0;
}

const sequential = (pool: Pool, path: string, sessionId?: string): Promise<number[]> => timings(() => call(pool, path, sessionId));

/** Requests per second of `once`, CONCURRENCY at a time for LOAD_SECONDS. */
async function loaded(once: () => Promise<void>): Promise<number> {
  const end = performance.now() + LOAD_SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await once();
        done++;
      }
    }),
  );
  return done / LOAD_SECONDS;
}

const throughput = (pool: Pool, path: string, sessionId?: string): Promise<number> => loaded(() => call(pool, path, sessionId));

/** Starts counting a process's CPU time; the function returned gives it per call, in µs, for `calls` calls since. */
function cpuPerCall(pid: number): (calls: number) => number {
  const before = processCpuMs(pid);
  return (calls) => ((processCpuMs(pid) - before) * 1000) / calls;
}

/** `samples` timings of `once` after 50 to warm up. */
async function timings(once: () => Promise<void>, samples = WARM_CALLS): Promise<number[]> {
  for (let i = 0; i < 50; i++) await once();
  const taken: number[] = [];
  for (let i = 0; i < samples; i++) taken.push(await timed(once));
  return taken;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The fixture server run natively on the host, as the sandbox runs it (cleared environment). */
async function straightServer(dir: string): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['server.js', 'http'], { cwd: dir, env: { PATH: '/usr/bin:/bin', PORT: String(port) }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 500; i++) {
    try {
      await fetch(`${url}/mcp`, { method: 'POST', headers: CALL_HEADERS, body: CALL_BODY });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return { url, stop: () => child.kill('SIGKILL') };
}

function memAvailable(): number {
  const match = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

interface BurstFigures {
  statuses: Map<string, number>;
  slowestMs: number;
  servedP50Ms: number;
  lowestAvailable: number;
  availableBefore: number;
  seconds: number;
}

/** BURST new sessions at once, each its first tools/call, on a fresh node started with `env`. */
async function burst(env: Record<string, string>): Promise<BurstFigures> {
  const node = await startBerth({ env: { BERTH_LOG_LEVEL: 'error', ...env } });
  const pool = new Pool(node.url, { connections: BURST });
  const availableBefore = memAvailable();
  let lowestAvailable = availableBefore;
  const sampler = setInterval(() => (lowestAvailable = Math.min(lowestAvailable, memAvailable())), 100);
  try {
    await deploy(node, 'minimal-stdio', await fixtureDir('minimal-server'), { transport: 'stdio' });
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: BURST }, async () => {
        const begun = performance.now();
        const { statusCode, body } = await pool.request({
          path: '/runtimes/minimal-stdio/mcp',
          method: 'POST',
          headers: { ...CALL_HEADERS, [SESSION_HEADER]: randomUUID() },
          body: CALL_BODY,
        });
        const text = await body.text();
        const code = /"code":"([a-z_]+)"/.exec(text)?.[1];
        return { status: statusCode === 200 ? '200' : `${statusCode} ${code ?? ''}`.trim(), ms: performance.now() - begun };
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const statuses = new Map<string, number>();
    for (const { status } of results) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const served = results.filter(({ status }) => status === '200').map(({ ms: taken }) => taken);
    return {
      statuses,
      slowestMs: Math.max(...results.map(({ ms: taken }) => taken)),
      servedP50Ms: percentile(served, 50),
      lowestAvailable,
      availableBefore,
      seconds,
    };
  } finally {
    clearInterval(sampler);
    await pool.close();
    await node.stop();
  }
}

const spreadLine = (hot: number[], random: number[]): string =>
  `hot p50 ${ms(percentile(hot, 50))} p95 ${ms(percentile(hot, 95))}   random p50 ${ms(percentile(random, 50))} p95 ${ms(percentile(random, 95))}   ratio ${(percentile(random, 50) / percentile(hot, 50)).toFixed(2)}×`;

/** SPREAD_SESSIONS of the stdio server started straight on the host; hot and random calls interleaved as through berth. */
async function straightSpread(dir: string): Promise<{ hot: number[]; random: number[] }> {
  const servers: StdioServer[] = [];
  try {
    for (let i = 0; i < SPREAD_SESSIONS; i += 10) {
      const batch = Array.from({ length: Math.min(10, SPREAD_SESSIONS - i) }, () => startStdioServer(dir));
      servers.push(...batch);
      await Promise.all(batch.map((server) => server.call(CALL_BODY)));
    }
    const once = async (server: StdioServer | undefined): Promise<number> => {
      const begun = performance.now();
      const line = await (server as StdioServer).call(CALL_BODY);
      if (!line.includes('count')) throw new Error(`call failed: ${line.slice(0, 300)}`);
      return performance.now() - begun;
    };
    const hot: number[] = [];
    const random: number[] = [];
    for (let i = 0; i < 50; i++) await once(servers[0]);
    for (let i = 0; i < WARM_CALLS; i++) {
      hot.push(await once(servers[0]));
      random.push(await once(servers[Math.floor(Math.random() * servers.length)]));
    }
    return { hot, random };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

async function main(): Promise<void> {
  const unsupported = BwrapDriver.unsupportedReason();
  if (unsupported) {
    process.stdout.write(`bench: the bwrap driver cannot run here (${unsupported}); nothing measured\n`);
    return;
  }
  // What a node with tracing on exports goes here (bench/tracing section), as to a collector.
  const receiver = await OtlpReceiver.start();
  const node = await startBerth({ env: { BERTH_LOG_LEVEL: 'warn', BERTH_MAX_SESSIONS: String(Math.max(LIVE_SESSIONS, SPREAD_SESSIONS) + 50) } });
  const pool = new Pool(node.url, { connections: CONCURRENCY * 2 });
  const out = (line = ''): boolean => process.stdout.write(`${line}\n`);
  const minimal = await fixtureDir('minimal-server');
  let spreadFigures = { live: 0, hot: [] as number[], random: [] as number[] };
  try {
    const counter = await fixtureDir('counter-server');
    await deploy(node, 'minimal-stdio', minimal, { transport: 'stdio' });
    await deploy(node, 'minimal-http', minimal, { transport: 'http' });
    await deploy(node, 'sdk-stdio', counter, { transport: 'stdio' });
    await deploy(node, 'sdk-http', counter, { transport: 'http' });
    const gvisor = GvisorDriver.unsupportedReason();
    if (!gvisor) {
      await deploy(node, 'gvisor-stdio', minimal, { transport: 'stdio', driver: 'gvisor' });
      await deploy(node, 'gvisor-http', minimal, { transport: 'http', driver: 'gvisor' });
    }

    out(
      `berth bench: bwrap driver, Node ${process.version}, ${NEW_SESSIONS} new sessions, ${WARM_CALLS} warm calls, ${CONCURRENCY}-way load for ${LOAD_SECONDS} s`,
    );
    out();
    out('new session → first tools/call answer, no pool (budget p50 ≤ 60 ms; issue 17: cold p50 ≤ 50 ms)');
    const floor = await bwrapNodeFloor(minimal, NEW_SESSIONS);
    out(
      `  ${'the floor'.padEnd(14)} p50 ${ms(percentile(floor, 50)).padStart(10)}   p95 ${ms(percentile(floor, 95)).padStart(10)}   (the minimal server started in a bare bwrap and asked over stdio: no berth, no cgroups)`,
    );
    for (const runtime of ['minimal-stdio', 'minimal-http', 'sdk-stdio', 'sdk-http']) {
      const samples = await newSessionLatency(pool, node, runtime);
      out(`  ${runtime.padEnd(14)} p50 ${ms(percentile(samples, 50)).padStart(10)}   p95 ${ms(percentile(samples, 95)).padStart(10)}`);
    }
    out('new session → first tools/call answer, taking a ready sandbox from a warm pool (issue 17: p50 ≤ 10 ms, gVisor as fast as bwrap)');
    const pooled: Array<readonly [string, 'stdio' | 'http', 'gvisor' | undefined]> = [
      ['pooled-stdio', 'stdio', undefined],
      ['pooled-http', 'http', undefined],
    ];
    if (!gvisor) pooled.push(['pooled-gvisor', 'stdio', 'gvisor']);
    for (const [runtime, transport, driver] of pooled) {
      const spec = { transport, ...(driver ? { driver } : {}) };
      await deploy(node, runtime, minimal, { ...spec, warmPool: { size: 2 } });
      const samples = await newSessionLatency(pool, node, runtime, driver ? Math.ceil(NEW_SESSIONS / 4) : NEW_SESSIONS, true);
      out(`  ${runtime.padEnd(14)} p50 ${ms(percentile(samples, 50)).padStart(10)}   p95 ${ms(percentile(samples, 95)).padStart(10)}`);
      await deploy(node, runtime, minimal, { ...spec, warmPool: { size: 0 } });
    }

    out();
    out('server/discover of a stock client (issue 14): naming no session (berth answers, no sandbox), and naming a new or a warm session');
    const discoverBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } });
    const { 'mcp-name': _toolName, ...plainHeaders } = CALL_HEADERS;
    const discoverHeaders = { ...plainHeaders, 'mcp-method': 'server/discover' };
    const discover = async (sessionId?: string): Promise<number> =>
      timed(async () => {
        const { body } = await pool.request({
          path: '/runtimes/sdk-stdio/mcp',
          method: 'POST',
          headers: sessionId === undefined ? discoverHeaders : { ...discoverHeaders, [SESSION_HEADER]: sessionId },
          body: discoverBody,
        });
        await body.text();
      });
    const sessionless: number[] = [];
    for (let i = 0; i < WARM_CALLS / 4; i++) sessionless.push(await discover());
    const fresh: number[] = [];
    for (let i = 0; i < NEW_SESSIONS / 4; i++) {
      const id = randomUUID();
      fresh.push(await discover(id));
      await node.admin(`/v1/sessions/${id}`, { method: 'DELETE' });
    }
    const warmSession = randomUUID();
    await discover(warmSession);
    const warm: number[] = [];
    for (let i = 0; i < WARM_CALLS / 4; i++) warm.push(await discover(warmSession));
    await node.admin(`/v1/sessions/${warmSession}`, { method: 'DELETE' });
    out(
      `  naming no session p50 ${ms(percentile(sessionless, 50))} p95 ${ms(percentile(sessionless, 95))}   a new session (cold sandbox) p50 ${ms(percentile(fresh, 50))}   a warm session p50 ${ms(percentile(warm, 50))}`,
    );

    out();
    out('warm tools/call, one session, through berth vs straight to the same server (budget +≤ 0.5 ms p50, throughput ≥ 0.85×)');
    for (const [runtime, dir] of [
      ['minimal-http', minimal],
      ['sdk-http', counter],
    ] as const) {
      const straight = await straightServer(dir);
      const direct = new Pool(straight.url, { connections: CONCURRENCY * 2 });
      const floor = await startFloorProxy(await freePort(), straight.url);
      const viaFloorPool = new Pool(floor.url, { connections: CONCURRENCY * 2 });
      const session = randomUUID();
      try {
        const berthCpu = cpuPerCall(node.process.pid as number);
        const viaBerth = await sequential(pool, `/runtimes/${runtime}/mcp`, session);
        const berthSequentialCpu = berthCpu(viaBerth.length + 50);
        const floorCpu = cpuPerCall(floor.pid);
        const viaFloor = await sequential(viaFloorPool, '/mcp');
        const floorSequentialCpu = floorCpu(viaFloor.length + 50);
        const viaDirect = await sequential(direct, '/mcp');
        const berthLoadCpu = cpuPerCall(node.process.pid as number);
        const berthRps = await throughput(pool, `/runtimes/${runtime}/mcp`, session);
        const berthLoadedCpu = berthLoadCpu(berthRps * LOAD_SECONDS);
        const floorLoadCpu = cpuPerCall(floor.pid);
        const floorRps = await throughput(viaFloorPool, '/mcp');
        const floorLoadedCpu = floorLoadCpu(floorRps * LOAD_SECONDS);
        const directRps = await throughput(direct, '/mcp');
        const p50b = percentile(viaBerth, 50);
        const p50d = percentile(viaDirect, 50);
        const p50f = percentile(viaFloor, 50);
        out(`  ${runtime}`);
        out(
          `    latency   straight p50 ${ms(p50d)} p95 ${ms(percentile(viaDirect, 95))}   berth p50 ${ms(p50b)} p95 ${ms(percentile(viaBerth, 95))}   overhead p50 +${ms(p50b - p50d)}   (a plain Node proxy: +${ms(p50f - p50d)})`,
        );
        out(
          `    requests/s straight ${directRps.toFixed(0)}   berth ${berthRps.toFixed(0)}   ratio ${(berthRps / directRps).toFixed(2)}×   (a plain Node proxy: ${floorRps.toFixed(0)})`,
        );
        out(
          `    edge CPU per warm call (goal ≤ 120 µs)   one at a time: berth ${berthSequentialCpu.toFixed(0)} µs, a plain Node proxy ${floorSequentialCpu.toFixed(0)} µs   ${CONCURRENCY} at once: berth ${berthLoadedCpu.toFixed(0)} µs, a plain Node proxy ${floorLoadedCpu.toFixed(0)} µs`,
        );
      } finally {
        await direct.close();
        await viaFloorPool.close();
        floor.stop();
        straight.stop();
        await node.admin(`/v1/sessions/${session}`, { method: 'DELETE' });
      }
    }

    out();
    out('tracing (issue 18): warm tools/call, one session, on a node with tracing off (the default) and one exporting every span over OTLP');
    {
      const traced = await startBerth({ env: { BERTH_LOG_LEVEL: 'warn', BERTH_OTLP_ENDPOINT: receiver.url } });
      const tracedPool = new Pool(traced.url, { connections: CONCURRENCY * 2 });
      const session = randomUUID();
      try {
        await deploy(traced, 'minimal-http', minimal, { transport: 'http' });
        const offCpu = cpuPerCall(node.process.pid as number);
        const off = await sequential(pool, '/runtimes/minimal-http/mcp', session);
        const offCallCpu = offCpu(off.length + 50);
        const onCpu = cpuPerCall(traced.process.pid as number);
        const on = await sequential(tracedPool, '/runtimes/minimal-http/mcp', session);
        const onCallCpu = onCpu(on.length + 50);
        const offRps = await throughput(pool, '/runtimes/minimal-http/mcp', session);
        const onRps = await throughput(tracedPool, '/runtimes/minimal-http/mcp', session);
        out(
          `    latency   off p50 ${ms(percentile(off, 50))} p95 ${ms(percentile(off, 95))}   on p50 ${ms(percentile(on, 50))} p95 ${ms(percentile(on, 95))}   overhead p50 +${ms(percentile(on, 50) - percentile(off, 50))}`,
        );
        out(`    requests/s off ${offRps.toFixed(0)}   on ${onRps.toFixed(0)}   ratio ${(onRps / offRps).toFixed(2)}×`);
        out(`    edge CPU per call, one at a time: off ${offCallCpu.toFixed(0)} µs, on ${onCallCpu.toFixed(0)} µs   (${receiver.spans.length} spans received)`);
      } finally {
        await tracedPool.close();
        await traced.stop();
        await node.admin(`/v1/sessions/${session}`, { method: 'DELETE' });
      }
    }

    out();
    out('warm tools/call on the minimal stdio server, one session: berth vs supergateway 4.0.0 (stdio → Streamable HTTP, stateful, no isolation)');
    out(`  (goal: berth ≥ 1.5× supergateway's requests/s at ${CONCURRENCY} at once)`);
    {
      const gateway = await startSupergateway(minimal, 'node server.js stdio', await freePort());
      const direct = new Pool(gateway.url, { connections: CONCURRENCY * 2 });
      const session = randomUUID();
      try {
        const gatewaySession = await openGatewaySession(direct);
        const viaGateway = await timings(() => gatewayCall(direct, gatewaySession));
        const viaBerth = await sequential(pool, '/runtimes/minimal-stdio/mcp', session);
        const gatewayRps = await loaded(() => gatewayCall(direct, gatewaySession));
        const berthRps = await throughput(pool, '/runtimes/minimal-stdio/mcp', session);
        out(
          `    latency   supergateway p50 ${ms(percentile(viaGateway, 50))} p95 ${ms(percentile(viaGateway, 95))}   berth p50 ${ms(percentile(viaBerth, 50))} p95 ${ms(percentile(viaBerth, 95))}`,
        );
        out(`    requests/s supergateway ${gatewayRps.toFixed(0)}   berth ${berthRps.toFixed(0)}   ratio ${(berthRps / gatewayRps).toFixed(2)}×`);
      } finally {
        await direct.close();
        gateway.stop();
        await node.admin(`/v1/sessions/${session}`, { method: 'DELETE' });
      }
    }

    out();
    if (gvisor) {
      out(`gvisor driver: not measured (${gvisor})`);
    } else {
      out('gvisor driver: new session → first tools/call answer (issue 17: cold p50 ≤ 400 ms), and a warm call');
      for (const runtime of ['gvisor-stdio', 'gvisor-http']) {
        const samples = await newSessionLatency(pool, node, runtime, Math.ceil(NEW_SESSIONS / 4));
        out(`  ${runtime.padEnd(14)} p50 ${ms(percentile(samples, 50)).padStart(10)}   p95 ${ms(percentile(samples, 95)).padStart(10)}`);
      }
      const session = randomUUID();
      const warm = await sequential(pool, '/runtimes/gvisor-http/mcp', session);
      out(`  gvisor-http warm p50 ${ms(percentile(warm, 50))} p95 ${ms(percentile(warm, 95))}`);
      await node.admin(`/v1/sessions/${session}`, { method: 'DELETE' });
    }

    out();
    out(`memory with ${LIVE_SESSIONS} live sessions of the minimal stdio server (budget ≤ 12 MB PSS per session)`);
    const berthBefore = pss(node.process.pid as number);
    const ids: string[] = Array.from({ length: LIVE_SESSIONS }, () => randomUUID());
    for (let i = 0; i < ids.length; i += 10) await Promise.all(ids.slice(i, i + 10).map((id) => call(pool, '/runtimes/minimal-stdio/mcp', id)));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const sessions = (await node.api.sessions('minimal-stdio')).filter((s) => ids.includes(s.id));
    let supervisorPss = 0;
    let serverPss = 0;
    for (const session of sessions) {
      const { berth, server } = bwrapSandbox(session.pid as number);
      supervisorPss += berth.reduce((sum, pid) => sum + pss(pid), 0);
      serverPss += server.reduce((sum, pid) => sum + pss(pid), 0);
    }
    const berthGrowth = pss(node.process.pid as number) - berthBefore;
    const perSession = (supervisorPss + Math.max(0, berthGrowth)) / sessions.length;
    out(`  live sessions ${sessions.length}`);
    out(
      `  supervisor + bwrap PSS per session ${mb(supervisorPss / sessions.length)}   berth bookkeeping per session ${mb(Math.max(0, berthGrowth) / sessions.length)}`,
    );
    out(`  berth's own memory per session ${mb(perSession)}   (the user's server: ${mb(serverPss / sessions.length)} PSS per session)`);

    const spread = [...ids];
    while (spread.length < SPREAD_SESSIONS) spread.push(randomUUID());
    for (let i = LIVE_SESSIONS; i < spread.length; i += 10)
      await Promise.all(spread.slice(i, i + 10).map((id) => call(pool, '/runtimes/minimal-stdio/mcp', id)));
    const hotSession = spread[0] as string;
    const hot: number[] = [];
    const random: number[] = [];
    for (let i = 0; i < 50; i++) await call(pool, '/runtimes/minimal-stdio/mcp', hotSession);
    // Interleaved, so that both see the same machine.
    for (let i = 0; i < WARM_CALLS; i++) {
      hot.push(await timed(() => call(pool, '/runtimes/minimal-stdio/mcp', hotSession)));
      random.push(await timed(() => call(pool, '/runtimes/minimal-stdio/mcp', spread[Math.floor(Math.random() * spread.length)])));
    }
    spreadFigures = { live: (await node.api.sessions('minimal-stdio')).length, hot, random };
  } finally {
    await pool.close();
    await node.stop();
    await receiver.close();
  }

  // Measured once berth's sessions are gone, so that the two sets of processes do not share the machine's memory.
  out();
  out(`a warm call to a random one of ${SPREAD_SESSIONS} live sessions beside one hot session (minimal stdio server; goal: within 1.5×)`);
  out(`  berth (live sessions ${spreadFigures.live})   ${spreadLine(spreadFigures.hot, spreadFigures.random)}`);
  const straight = await straightSpread(minimal);
  out(`  the same server's processes driven straight over stdio, no berth (the floor)   ${spreadLine(straight.hot, straight.random)}`);

  out();
  out(`load shedding: a burst of ${BURST} new sessions at once, each its first tools/call (minimal stdio server)`);
  const gb = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(2)} GB`;
  for (const [label, env] of [
    ['berth, default admission', {}],
    ['berth, admission opened wide (the baseline)', { BERTH_MAX_STARTING: '10000', BERTH_START_QUEUE: '0', BERTH_MIN_FREE_MEMORY_MB: '0' }],
  ] as const) {
    const figures = await burst(env);
    const answered = [...figures.statuses].map(([status, count]) => `${status}: ${count}`).join(', ');
    out(`  ${label}`);
    out(`    answers ${answered}   in ${figures.seconds.toFixed(1)} s`);
    out(
      `    served p50 ${ms(figures.servedP50Ms)}   slowest answer ${ms(figures.slowestMs)}   host memory available ${gb(figures.availableBefore)} → lowest ${gb(figures.lowestAvailable)}`,
    );
  }

  await websocketBench(out, { quick: QUICK });
  await densityBench(out, { quick: QUICK });
  await clusterBench(out, { quick: QUICK, warmCalls: WARM_CALLS });
}

await main();
