import type { SupervisorSpec } from '../core/channel.ts';
import type { ChannelHandler } from './channel-server.ts';
import { createHttpUpstream } from './http-upstream.ts';
import { PingWatcher } from './ping.ts';
import type { ServerExit } from './server-process.ts';
import { lazy } from './lazy-builtin.ts';
import { createWsUpstream } from './ws-upstream.ts';

/** Where an http or AG-UI agent serves invocations, by AgentCore's HTTP contract; an A2A agent, at its root. */
const AGENT_INVOCATIONS_PATH = '/invocations';
const A2A_PATH = '/';
/** Where an A2A agent serves its card. */
export const AGENT_CARD_PATH = '/.well-known/agent-card.json';
/** A fresh id for each invocation, as AgentCore gives its agents; the host normally sends one. */
const REQUEST_ID_HEADER = 'x-amzn-bedrock-agentcore-runtime-request-id';

/**
 * An agent (AgentCore's HTTP, AG-UI and A2A contracts): channel invocations stream to and from the agent's
 * `POST /invocations` (an A2A agent's `POST /`), each with a request id, and its `/ping` is polled for whether it
 * is busy in the background, which `onBusy` hears. An http or AG-UI agent's `/ws` is reached through the channel's
 * `GET /ws`, an A2A agent's card through `GET /.well-known/agent-card.json`. No MCP is spoken to it.
 */
export function serveAgent(
  spec: SupervisorSpec,
  host: string,
  exited: Promise<ServerExit>,
  onBusy: (busy: boolean) => void,
): { invocations: ChannelHandler; routes: Array<[string, ChannelHandler]> } {
  const ping = new PingWatcher({ host, port: spec.port, onBusy });
  void exited.then(() => ping.stop());
  ping.start();
  const routes: Array<[string, ChannelHandler]> =
    spec.protocol === 'a2a'
      ? [[`GET ${AGENT_CARD_PATH}`, createHttpUpstream(spec, host, exited, { path: AGENT_CARD_PATH })]]
      : [['GET /ws', createWsUpstream(host, spec.port)]];
  const invocations = createHttpUpstream(spec, host, exited, {
    path: spec.protocol === 'a2a' ? A2A_PATH : AGENT_INVOCATIONS_PATH,
    addHeaders: (req): Record<string, string> =>
      typeof req.headers[REQUEST_ID_HEADER] === 'string' ? {} : { [REQUEST_ID_HEADER]: lazy('node:crypto').randomUUID() },
    onDone: () => ping.pollNow(),
  });
  return { invocations, routes };
}
