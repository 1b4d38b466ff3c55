import { connect, type Socket } from 'node:net';
import { authorityOf, requestHead } from '../core/http1-wire.ts';
import type { ChannelHandler } from './channel-server.ts';
import { joinSockets } from '../core/tunnel.ts';
import { forwardableHeaders, replyError } from './reply.ts';

/** Where an agent serves WebSockets, by AgentCore's HTTP and AG-UI contracts. */
const AGENT_WS_PATH = '/ws';

/**
 * `GET /ws` with an upgrade: the channel connection becomes the agent's WebSocket on `port`. The host already
 * checked the client's handshake and checks its frames; see `upgradeProxy`.
 */
export function createWsUpstream(host: string, port: number): ChannelHandler {
  return upgradeProxy(
    () => connect({ host, port }),
    () => AGENT_WS_PATH,
    authorityOf(host, port),
    `the agent takes no connection on port ${port}`,
  );
}

/**
 * An upgrade passed on to the peer `open` connects to, at the path `pathOf` gives for the request: the request goes
 * on as it came, and from then on bytes pass both ways untouched (the peer's 101 or refusal, then frames). The
 * host parses what it needs; this side only joins the two connections, so either one's end ends the other.
 */
export function upgradeProxy(open: () => Socket, pathOf: (url: string) => string, authority: string, unreachable: string): ChannelHandler {
  return (req, res) => {
    if (!req.upgrade) {
      req.discard();
      replyError(res, 'invalid_request', `${pathOf(req.url)} is a WebSocket: ask for an upgrade`);
      return;
    }
    const peer = open();
    let taken = false;
    peer.once('connect', () => {
      taken = true;
      const { socket, head } = req.takeOver();
      const headers = { ...forwardableHeaders(req.headers), host: authority, connection: 'Upgrade', upgrade: String(req.headers.upgrade) };
      peer.write(requestHead({ method: 'GET', path: pathOf(req.url), headers }), 'latin1');
      if (head.length > 0) peer.write(head);
      joinSockets(socket, peer);
    });
    peer.once('error', (error) => {
      if (!taken && !res.destroyed) replyError(res, 'sandbox_unavailable', `${unreachable}: ${error.message}`);
    });
  };
}
