import { connect, type Socket } from 'node:net';
import { authorityOf, requestHead } from '../core/http1-wire.ts';
import type { ChannelHandler } from './channel-server.ts';
import { forwardableHeaders, replyError } from './reply.ts';

/** Where an agent serves WebSockets, by AgentCore's HTTP and AG-UI contracts. */
const AGENT_WS_PATH = '/ws';

/**
 * `GET /ws` with an upgrade: the channel connection becomes the agent's WebSocket. The request goes on to the agent's
 * `/ws` on `port` as it came (the host already checked the client's handshake and frames), and from then on bytes
 * pass both ways untouched: the agent's 101 or refusal, then frames. The host parses what it needs; the supervisor
 * only joins the two connections, so either one's end ends the other.
 */
export function createWsUpstream(host: string, port: number): ChannelHandler {
  return (req, res) => {
    if (!req.upgrade) {
      req.discard();
      replyError(res, 'invalid_request', `${AGENT_WS_PATH} is a WebSocket: ask for an upgrade`);
      return;
    }
    const agent = connect({ host, port });
    let taken = false;
    agent.once('connect', () => {
      taken = true;
      const { socket, head } = req.takeOver();
      const headers = { ...forwardableHeaders(req.headers), host: authorityOf(host, port), connection: 'Upgrade', upgrade: String(req.headers.upgrade) };
      agent.write(requestHead({ method: 'GET', path: AGENT_WS_PATH, headers }), 'latin1');
      if (head.length > 0) agent.write(head);
      join(socket, agent);
    });
    agent.once('error', (error) => {
      if (!taken && !res.destroyed) replyError(res, 'sandbox_unavailable', `the agent takes no connection on port ${port}: ${error.message}`);
    });
  };
}

/** Joins two connections: bytes pass both ways as fast as each side takes them, and either one's end ends both. */
export function join(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.once('close', end);
  b.once('close', end);
  a.on('error', end);
  b.on('error', end);
}
