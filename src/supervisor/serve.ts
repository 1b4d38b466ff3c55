/**
 * What the supervisor serves on the channel for one server, wherever the supervisor runs: inside the sandbox
 * (main.ts), or in berth's own process for a stdio server (host.ts). For an MCP server it finds out which revision
 * the server speaks and passes modern traffic through or bridges it for a legacy server; for an http agent it
 * streams invocations through and watches its `/ping`.
 */
import type { Http1ServerRequest, Http1ServerResponse } from '../core/http1-server.ts';
import { CHANNEL_INVOCATIONS_PATH, CHANNEL_MCP_PATH, type SupervisorSpec } from '../core/channel.ts';
import type { JsonRpcMessage } from '../mcp/jsonrpc.ts';
import type { ActivityReporter } from './activity.ts';
import { serveAgent } from './agent.ts';
import { limitListeners, ListenerSlots } from './caps.ts';
import { probeHttp, probeStdio, type Era } from './era.ts';
import { createHttpUpstream } from './http-upstream.ts';
import { LegacyBridge, type BridgeOptions } from './legacy/bridge.ts';
import { HttpLegacyPeer } from './legacy/http-peer.ts';
import { settled } from './legacy/settle.ts';
import { crashMessage, unlessExited, type AttachedServer } from './server-process.ts';
import type { ReadBudget } from './server-messages.ts';
import { failOnExit, StdioPeer } from './stdio-peer.ts';
import { StdioUpstream } from './stdio-upstream.ts';

export type Handler = (req: Http1ServerRequest, res: Http1ServerResponse) => void;

const PROBE_TIMEOUT_MS = 10_000;
const INIT_TIMEOUT_MS = 30_000;

/** Where the supervisor's work reports, and what it may do to the server. */
export interface ServeHooks {
  /** The session's log: the server's non-protocol output and berth's notes on it. */
  log: (line: string) => void;
  activity: ActivityReporter;
  /** Ends the server (a legacy HTTP server that lost its session and will not start another). */
  endServer: () => void;
  /**
   * Hears a fault while handling what the server sent: the supervisor's state is then past vouching for, so the
   * sandbox ends. Unset, the fault is thrown (the in-sandbox supervisor dies of it, which ends the sandbox too).
   */
  onFault?: (error: unknown) => void;
  /** Shared with other servers read in the same process: what their unfinished lines may hold together. */
  readBudget?: ReadBudget;
}

export interface Served {
  /** The channel path the handler serves. */
  path: string;
  handler: Handler;
  era: Era;
  /** The channel's other routes for this server, by `METHOD /path` (an agent's WebSocket, its card). */
  routes?: Array<[string, Handler]>;
}

function bridgeOptions(spec: SupervisorSpec, server: AttachedServer, hooks: ServeHooks): Omit<BridgeOptions, 'peer' | 'attributesServerRequests'> {
  return {
    runtime: spec.runtime,
    inputTimeoutMs: spec.inputTimeoutMs,
    onActivity: (waiting) => hooks.activity.setWaiting(waiting),
    limits: spec.perSession,
    log: hooks.log,
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

async function serveStdio(spec: SupervisorSpec, server: AttachedServer, hooks: ServeHooks): Promise<{ handler: Handler; era: Era }> {
  let route: (message: JsonRpcMessage) => void = () => {};
  const peer = new StdioPeer(server.stdin!, server.stdout!, (message) => route(message), hooks.log, {
    ...(hooks.onFault ? { onFault: hooks.onFault } : {}),
    ...(hooks.readBudget ? { budget: hooks.readBudget } : {}),
  });
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
      log: hooks.log,
    });
    route = upstream.fromServer;
    return { handler: upstream.handle, era };
  }
  const bridge = new LegacyBridge({ ...bridgeOptions(spec, server, hooks), peer, attributesServerRequests: false });
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

async function serveHttp(spec: SupervisorSpec, server: AttachedServer, hooks: ServeHooks): Promise<{ handler: Handler; era: Era }> {
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
        hooks.log(`berth: runtime "${spec.runtime}" could not start a new legacy session: ${(error as Error).message}`);
        hooks.endServer();
      }),
    serverExited: server.exited.then((exit) => crashMessage(spec.runtime, exit)),
    log: hooks.log,
  });
  const bridge = new LegacyBridge({ ...bridgeOptions(spec, server, hooks), peer, attributesServerRequests: true });
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
export async function serve(spec: SupervisorSpec, server: AttachedServer, hooks: ServeHooks): Promise<Served> {
  if (spec.protocol !== 'mcp') {
    const agent = serveAgent(spec, server.host, server.exited, (busy) => hooks.activity.setBusy(busy));
    return { path: CHANNEL_INVOCATIONS_PATH, handler: agent.invocations, era: 'modern', routes: agent.routes };
  }
  const served = spec.transport === 'stdio' ? await serveStdio(spec, server, hooks) : await serveHttp(spec, server, hooks);
  return { path: CHANNEL_MCP_PATH, ...served };
}
