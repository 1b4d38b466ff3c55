/**
 * berth's supervisor, started by the sandbox's launcher right after the runtime's server (see
 * src/sandbox/launcher.ts): `supervisor SPEC_JSON SERVER_PID`. It takes charge of the server and serves the
 * channel on a Unix socket: for an MCP server it finds out which revision the server speaks and passes modern
 * traffic through or bridges it for a legacy server; for an http agent it streams invocations through and watches
 * its `/ping`; for every runtime it runs commands. It reports on stdout, one JSON line each: `ready`, `activity`,
 * `failed`, or `server-exit`. When the server exits, the supervisor exits too, so the sandbox ends with it and the
 * session's next request gets a fresh one.
 */
import type { Http1ServerRequest, Http1ServerResponse } from '../core/http1-server.ts';
import { CHANNEL_COMMANDS_PATH, CHANNEL_INVOCATIONS_PATH, CHANNEL_MCP_PATH, type SupervisorSpec, type SupervisorStatus } from '../core/channel.ts';
import type { JsonRpcMessage } from '../mcp/jsonrpc.ts';
import { ActivityReporter } from './activity.ts';
import { serveAgent } from './agent.ts';
import { serveChannel } from './channel-server.ts';
import { limitListeners, ListenerSlots } from './caps.ts';
import { createCommandRunner, type CommandRunner } from './commands.ts';
import { forwardEgress } from './egress-forwarder.ts';
import { watchLimits } from './limit-watch.ts';
import { probeHttp, probeStdio, type Era } from './era.ts';
import { createHttpUpstream } from './http-upstream.ts';
import { LegacyBridge, type BridgeOptions } from './legacy/bridge.ts';
import { HttpLegacyPeer } from './legacy/http-peer.ts';
import { settled } from './legacy/settle.ts';
import { attachServer, crashMessage, StartTimeout, unlessExited, type AttachedServer } from './server-process.ts';
import { loadServerEnv } from './server-env.ts';
import { parseSpec } from './spec.ts';
import { failOnExit, StdioPeer } from './stdio-peer.ts';
import { StdioUpstream } from './stdio-upstream.ts';
import { runWarmup } from './warmup.ts';
import type { SamplingPace } from '../core/sampling-pace.ts';

type Handler = (req: Http1ServerRequest, res: Http1ServerResponse) => void;

const PROBE_TIMEOUT_MS = 10_000;
const INIT_TIMEOUT_MS = 30_000;

function report(status: SupervisorStatus): void {
  process.stdout.write(`${JSON.stringify(status)}\n`);
}

function onOutput(line: string): void {
  process.stderr.write(`${line}\n`);
}

const activity = new ActivityReporter(report);
const onWaiting = (waiting: number): void => activity.setWaiting(waiting);

function bridgeOptions(spec: SupervisorSpec, server: AttachedServer): Omit<BridgeOptions, 'peer' | 'attributesServerRequests'> {
  return {
    runtime: spec.runtime,
    inputTimeoutMs: spec.inputTimeoutMs,
    onActivity: onWaiting,
    limits: spec.perSession,
    log: onOutput,
    settled: () => settled(server.pid),
  };
}

/**
 * Whether the server is asked `server/discover`: to learn its revision (`auto`), or, for a pooled sandbox of a modern
 * server, to warm the server's request path and the supervisor's before a session's first request takes it.
 */
function asks(spec: SupervisorSpec): boolean {
  return spec.era === 'auto' || (spec.prime === true && spec.era === 'modern');
}

/** The revision served: the one the server answered with when it was asked to find out, else the one known. */
function eraOf(spec: SupervisorSpec, answered: Era | undefined): Era {
  // Silence to the probe is a legacy server that ignores what it does not know (see era.ts).
  return spec.era === 'auto' ? (answered ?? 'legacy') : spec.era;
}

async function serveStdio(spec: SupervisorSpec, server: AttachedServer): Promise<{ handler: Handler; era: Era }> {
  let route: (message: JsonRpcMessage) => void = () => {};
  const peer = new StdioPeer(server.stdin!, server.stdout!, (message) => route(message), onOutput);
  const era = eraOf(
    spec,
    await (asks(spec)
      ? unlessExited(
          spec,
          server.exited,
          probeStdio((method, params, timeout) => peer.call(method, params, timeout), PROBE_TIMEOUT_MS),
          'answered server/discover',
        )
      : undefined),
  );
  if (era === 'modern') {
    const upstream = new StdioUpstream({
      runtime: spec.runtime,
      peer,
      exited: server.exited,
      listeners: new ListenerSlots(spec.perSession.listeners),
      log: onOutput,
    });
    route = upstream.fromServer;
    return { handler: upstream.handle, era };
  }
  const bridge = new LegacyBridge({ ...bridgeOptions(spec, server), peer, attributesServerRequests: false });
  route = bridge.fromServer;
  failOnExit(peer, server.exited, (call, exit) => call.onFailure?.(crashMessage(spec.runtime, exit), 'server_crashed'));
  await unlessExited(
    spec,
    server.exited,
    bridge.open((params) => peer.call('initialize', params, INIT_TIMEOUT_MS)),
    'answered initialize',
  );
  return { handler: bridge.handle, era };
}

async function serveHttp(spec: SupervisorSpec, server: AttachedServer): Promise<{ handler: Handler; era: Era }> {
  const era = eraOf(
    spec,
    await (asks(spec)
      ? unlessExited(spec, server.exited, probeHttp(server.host, spec.port, spec.path, PROBE_TIMEOUT_MS), 'answered server/discover')
      : undefined),
  );
  if (era === 'modern')
    return { handler: limitListeners(createHttpUpstream(spec, server.host, server.exited), new ListenerSlots(spec.perSession.listeners)), era };
  let route: (message: JsonRpcMessage) => void = () => {};
  const peer = new HttpLegacyPeer({
    host: server.host,
    port: spec.port,
    path: spec.path,
    onServerMessage: (message) => route(message),
    // A server that lost its session and will not start another is of no more use: ending it ends the sandbox,
    // and the session's next request gets a fresh one.
    reinitialize: () =>
      open().catch((error: unknown) => {
        process.stderr.write(`berth: runtime "${spec.runtime}" could not start a new legacy session: ${(error as Error).message}\n`);
        process.kill(server.pid, 'SIGKILL');
      }),
    serverExited: server.exited.then((exit) => crashMessage(spec.runtime, exit)),
    log: onOutput,
  });
  const bridge = new LegacyBridge({ ...bridgeOptions(spec, server), peer, attributesServerRequests: true });
  route = bridge.fromServer;
  const open = async (): Promise<void> => {
    await bridge.open(async (params) => {
      const { response, sessionId } = await peer.initialize(params, INIT_TIMEOUT_MS);
      const version = typeof response.result?.protocolVersion === 'string' ? response.result.protocolVersion : '2025-11-25';
      peer.established({ sessionId, version });
      return response;
    });
  };
  void server.exited.then((exit) => bridge.serverExited(crashMessage(spec.runtime, exit)));
  await unlessExited(spec, server.exited, open(), 'answered initialize');
  return { handler: bridge.handle, era };
}

/** An http agent speaks no MCP, so it has no revision; `modern` stands for "nothing to bridge". */
async function serve(spec: SupervisorSpec, server: AttachedServer): Promise<{ path: string; handler: Handler; era: Era }> {
  if (spec.protocol === 'http') {
    return { path: CHANNEL_INVOCATIONS_PATH, handler: serveAgent(spec, server.host, server.exited, (busy) => activity.setBusy(busy)), era: 'modern' };
  }
  const served = spec.transport === 'stdio' ? await serveStdio(spec, server) : await serveHttp(spec, server);
  return { path: CHANNEL_MCP_PATH, ...served };
}

/** The limit watch, told of every channel request so that it samples often while the sandbox is in use. */
let limits: SamplingPace | undefined;

async function main(): Promise<void> {
  const spec = parseSpec(process.argv[2]);
  const pid = Number(process.argv[3]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`the launcher passed no server pid (got "${process.argv[3]}")`);
  let served: { path: string; handler: Handler; era: Era };
  let server: AttachedServer;
  let commands: CommandRunner;
  try {
    if (spec.protocol === 'http' && spec.transport !== 'http') {
      throw new Error('an http agent serves /invocations on a port: deploy it with transport http');
    }
    commands = createCommandRunner({ env: loadServerEnv(spec.envPath), cwd: process.cwd() });
    if (spec.egress) await forwardEgress(spec.egress);
    server = await attachServer(spec, pid);
    served = await serve(spec, server);
    if (spec.warmup) await unlessExited(spec, server.exited, runWarmup(spec.warmup, server.host), 'answered its warmup hook');
    const routes = new Map([
      [`POST ${served.path}`, served.handler],
      [`POST ${CHANNEL_COMMANDS_PATH}`, commands.handle],
    ]);
    await serveChannel(
      spec.channel,
      routes,
      () => ({ ok: true, serverPid: pid, era: served.era, busy: activity.busy }),
      onOutput,
      () => limits?.begin() ?? ignore,
    );
  } catch (error) {
    const code = error instanceof StartTimeout ? 'server_start_timeout' : 'sandbox_failed';
    report({ type: 'failed', code, message: (error as Error).message });
    process.exit(1);
  }
  report({ type: 'ready', serverPid: pid, era: served.era });
  if (spec.watch) limits = watchLimits(spec.watch, report);
  const exit = await server.exited;
  report({ type: 'server-exit', exitCode: exit.exitCode, signal: exit.signal });
  // Commands run in process groups of their own; the sandbox's end must take them too, whatever the driver.
  commands.killAll();
  // Give in-flight answers a moment to flush their "server exited" errors, then end the sandbox.
  setTimeout(() => process.exit(0), 100);
}

// The channel keeps this process alive from ready on, and every start step waits on a timer or a socket; an event
// loop with nothing left is a bug, which must fail the start loudly rather than end it with exit code 0.
process.on('beforeExit', () => {
  report({ type: 'failed', code: 'sandbox_failed', message: "berth's supervisor stopped with nothing left to wait on (a bug in berth: please report it)" });
  process.exit(1);
});

// A fault while handling one message is answered and logged where it happens (serveClientMessage, the peers); one
// that reaches here leaves the supervisor in a state nothing vouches for, so it ends the sandbox, saying why: the
// report reaches berth's log, the stack the session's.
function die(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  onOutput(`berth: the supervisor failed and ends the sandbox: ${error instanceof Error ? (error.stack ?? message) : message}`);
  report({ type: 'failed', code: 'sandbox_failed', message: `supervisor error: ${message}` });
  process.exit(1);
}

process.on('uncaughtException', die);
process.on('unhandledRejection', die);

function ignore(): void {}

void main();
