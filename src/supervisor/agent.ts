import type { SupervisorSpec } from '../core/channel.ts';
import type { ChannelHandler } from './channel-server.ts';
import { createHttpUpstream } from './http-upstream.ts';
import { PingWatcher } from './ping.ts';
import type { ServerExit } from './server-process.ts';
import { lazy } from './lazy-builtin.ts';

/** Where an http agent serves invocations, by AgentCore's HTTP contract. */
const AGENT_INVOCATIONS_PATH = '/invocations';
/** A fresh id for each invocation, as AgentCore gives its agents; the host normally sends one. */
const REQUEST_ID_HEADER = 'x-amzn-bedrock-agentcore-runtime-request-id';

/**
 * An http agent (AgentCore's HTTP contract): channel invocations stream to and from the agent's
 * `POST /invocations`, each with a request id, and its `/ping` is polled for whether it is busy in the background,
 * which `onBusy` hears. No MCP is spoken to it.
 */
export function serveAgent(spec: SupervisorSpec, host: string, exited: Promise<ServerExit>, onBusy: (busy: boolean) => void): ChannelHandler {
  const ping = new PingWatcher({ host, port: spec.port, onBusy });
  void exited.then(() => ping.stop());
  ping.start();
  return createHttpUpstream(spec, host, exited, {
    path: AGENT_INVOCATIONS_PATH,
    addHeaders: (req): Record<string, string> =>
      typeof req.headers[REQUEST_ID_HEADER] === 'string' ? {} : { [REQUEST_ID_HEADER]: lazy('node:crypto').randomUUID() },
    onDone: () => ping.pollNow(),
  });
}
