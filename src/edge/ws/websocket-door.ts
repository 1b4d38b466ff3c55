import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { UpgradeAnswer, type Answer, type AnswerHeaders } from '../../core/answer.ts';
import { BerthError, isBerthError } from '../../core/errors.ts';
import { answerHead, type Http1Headers } from '../../core/http1-wire.ts';
import { CHANNEL_SHELL_PATH } from '../../core/channel.ts';
import { checkSessionId } from '../../core/ids.ts';
import type { Inbound, RequestHeaders } from '../../core/inbound.ts';
import { TunnelError } from '../../core/tunnel.ts';
import { isWebSocketKey } from '../../core/websocket.ts';
import type { RuntimeService } from '../../control/runtimes.ts';
import type { Logger } from '../../observability/logger.ts';
import { notes } from '../../observability/request-scope.ts';
import { channelTunnel } from '../../sandbox/channel-client.ts';
import type { Lease } from '../../sessions/manager.ts';
import { ANONYMOUS } from '../auth/principal.ts';
import type { SessionScope } from '../auth/session-scope.ts';
import { agentHeaders, restErrorWithSession } from '../invocations.ts';
import { SESSION_HEADER, supervisorError, unansweredError, USER_ID_HEADER } from '../mcp/channel-call.ts';
import type { Caller } from '../pipeline/caller.ts';
import { doorError } from '../pipeline/door-errors.ts';
import type { SessionLeases } from '../pipeline/lease.ts';
import { namedSession } from '../pipeline/session-key.ts';
import { offeredProtocols, BEARER_PROTOCOL } from './subprotocol-bearer.ts';
import type { FrameLimits } from './frame-gate.ts';
import { relayWebSocket } from './relay.ts';

/** AgentCore's header (and, in a presigned URL, query parameter) naming a shell. */
export const SHELL_ID_HEADER = 'x-amzn-bedrock-agentcore-shell-id';
/** Shell ids as AgentCore's clients make them. */
const SHELL_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** How long the sandbox has to answer the upgrade (an agent's /ws, the supervisor's shell). */
const UPGRADE_TIMEOUT_MS = 30_000;
/** The handshake's headers the sandbox gets, beside those an agent hears of any request. */
const HANDSHAKE_HEADERS = ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'origin', 'user-agent'];
/** The sandbox's 101 headers the client gets; the rest (any a hostile sandbox adds) stay behind. */
const ANSWER_HEADERS = ['sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions'];

export interface WebSocketDoorOptions {
  runtimes: RuntimeService;
  leases: SessionLeases;
  scope: SessionScope;
  limits: FrameLimits;
  logger: Logger;
  /** Hears each connection's end: frames each way, and a rule its client broke. */
  onEnd?: (door: 'ws' | 'shell', framesIn: number, framesOut: number, violation: string | undefined) => void;
}

/**
 * The WebSocket doors of a runtime: `ws`, the agent's own `/ws` (AgentCore's bidirectional streaming, for http and
 * AG-UI agents), and `shell`, an interactive shell in the session's sandbox (AgentCore's
 * InvokeAgentRuntimeCommandShell). Either takes the session the request names (the session header, or the query
 * parameter of that name a presigned URL carries) or a new one, holds its lease for as long as the connection is
 * open (which keeps the session from going idle), and tunnels the connection to the sandbox through its channel.
 * Closing the connection ends nothing else. Errors before the 101 are plain HTTP answers in the door's format.
 */
export function createWebSocketDoor(options: WebSocketDoorOptions) {
  const { runtimes, leases, scope, logger } = options;
  const sockets = sandboxSockets(options);
  return async (caller: Caller, door: 'ws' | 'shell'): Promise<Answer> => {
    notes().door = door;
    let sessionId: string | undefined;
    try {
      checkHandshake(caller.inbound);
      const resolved = caller.resolved ?? (await runtimes.resolve(caller.runtime, caller.endpoint));
      const { protocol } = resolved.version.spec;
      if (door === 'ws' && protocol !== 'http' && protocol !== 'agui') {
        throw new BerthError('invalid_request', `runtime "${caller.runtime}" speaks ${protocol}: only http and AG-UI agents serve /ws`);
      }
      const shellId = door === 'shell' ? shellIdOf(caller.url) : undefined;
      // A session berth makes for a request that names none is the caller's only if it comes back to it.
      let minted = false;
      const mint = (): string => {
        const fresh = scope.fresh(resolved.version.spec, caller.runtime, caller.principal);
        minted = !scope.isOwn(fresh);
        return fresh;
      };
      const session = sessionOf(caller) ?? mint();
      sessionId = session;
      return await sockets(caller.inbound, shellId, () => leases.take({ session, target: resolved.target, principal: caller.principal, minted }));
    } catch (error) {
      if (!isBerthError(error)) logger.error('websocket failed', { runtime: caller.runtime, session: sessionId, err: error });
      const session = sessionId;
      return doorError(caller, error, (berth) => restErrorWithSession(berth, session));
    }
  };
}

/**
 * The part every WebSocket to a sandbox shares, whoever opens it (a runtime's caller, an operator's shell): takes the
 * lease, asks the sandbox for the upgrade (the agent's `/ws`, or the shell `shellId`) and, once it agrees, answers
 * 101 and relays. The lease is held until the connection closes. Throws BerthErrors before the 101.
 */
export function sandboxSockets(options: Pick<WebSocketDoorOptions, 'limits' | 'onEnd'>) {
  const { limits } = options;
  return async (inbound: Inbound, shellId: string | undefined, take: () => Promise<Lease>): Promise<UpgradeAnswer> => {
    const door = shellId === undefined ? 'ws' : 'shell';
    const lease = await take();
    try {
      const headers = tunnelHeaders(lease, inbound.headers);
      let tunnel;
      try {
        tunnel = await channelTunnel(
          lease.sandbox,
          { path: shellId === undefined ? '/ws' : `${CHANNEL_SHELL_PATH}?id=${encodeURIComponent(shellId)}`, headers },
          inbound.signal,
          UPGRADE_TIMEOUT_MS,
        );
      } catch (error) {
        if (inbound.signal.aborted) throw new BerthError('invalid_request', 'the client went away', { cause: error });
        throw error instanceof TunnelError ? await unansweredError(lease, error) : error;
      }
      if (!tunnel.upgraded) throw refusal(tunnel, door);
      const upstream = tunnel.socket;
      const upstreamHead = tunnel.head;
      const answer: AnswerHeaders = { upgrade: 'websocket', [SESSION_HEADER]: lease.sessionId };
      for (const name of ANSWER_HEADERS) {
        const value = tunnel.headers[name];
        if (typeof value === 'string') answer[name] = value;
      }
      // A client that sent its token as a subprotocol is answered with the marker protocol, which its library expects back.
      if (answer['sec-websocket-protocol'] === undefined && offeredProtocols(inbound.headers).includes(BEARER_PROTOCOL)) {
        answer['sec-websocket-protocol'] = BEARER_PROTOCOL;
      }
      if (shellId !== undefined) answer[SHELL_ID_HEADER] = shellId;
      const extensions = typeof answer['sec-websocket-extensions'] === 'string';
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        lease.release();
      };
      return new UpgradeAnswer(
        answer,
        (socket: Socket, head: Buffer) => {
          // answerHead keeps connection fields to itself: the upgrade's goes in as one.
          socket.write(answerHead(101, STATUS_CODES[101] ?? 'Switching Protocols', answer, 'connection: Upgrade\r\n'), 'latin1');
          relayWebSocket(socket, head, upstream, upstreamHead, {
            limits,
            extensions,
            onEnd: ({ violation, framesIn, framesOut }) => {
              release();
              options.onEnd?.(door, framesIn, framesOut, violation?.reason);
            },
          });
        },
        () => {
          upstream.destroy();
          release();
        },
      );
    } catch (error) {
      lease.release();
      throw error;
    }
  };
}

/** A WebSocket handshake (RFC 6455 section 4.2.1) through an adapter that can hand the connection over. */
export function checkHandshake(inbound: Inbound): void {
  const { headers } = inbound;
  if (!inbound.upgrade || headers.get('upgrade')?.toLowerCase() !== 'websocket') {
    throw new BerthError('upgrade_required', 'this is a WebSocket endpoint: connect with a WebSocket client (GET with Upgrade: websocket)');
  }
  if (headers.get('sec-websocket-version') !== '13') throw new BerthError('upgrade_required', 'berth speaks WebSocket version 13 (RFC 6455)');
  if (!isWebSocketKey(headers.get('sec-websocket-key')))
    throw new BerthError('invalid_request', 'the handshake needs a Sec-WebSocket-Key of 16 bytes in base64');
}

/** The session a WebSocket request names: in its head, or as the query parameter AgentCore's presigned URLs carry. */
function sessionOf(caller: Caller): string | undefined {
  const named = namedSession(caller);
  let inQuery: string | null = null;
  for (const [name, value] of caller.url.searchParams) if (name.toLowerCase() === SESSION_HEADER) inQuery = value;
  if (inQuery !== null && named !== undefined && inQuery !== named) {
    throw new BerthError('invalid_session_id', `the ${SESSION_HEADER} header and query parameter differ; send one, or the same in both`);
  }
  return named ?? (inQuery === null ? undefined : checkSessionId(inQuery));
}

/** The shell a request names (`shellId`), or a new one's id, which the 101 returns (AgentCore's CLI names none at first). */
export function shellIdOf(url: URL): string {
  const id = url.searchParams.get('shellId');
  if (id === null) return randomUUID();
  if (!SHELL_ID.test(id)) throw new BerthError('validation_failed', 'a shellId is 1 to 128 letters, digits and . _ : -, starting with a letter or digit');
  return id;
}

function tunnelHeaders(lease: Lease, callerHeaders: RequestHeaders): Http1Headers {
  const out: Http1Headers = {};
  agentHeaders(lease, callerHeaders).forEach((value, name) => (out[name] = value));
  for (const name of HANDSHAKE_HEADERS) {
    const value = callerHeaders.get(name);
    if (value !== null) out[name] = value;
  }
  const protocols = offeredProtocols(callerHeaders).filter((protocol) => !protocol.startsWith(BEARER_PROTOCOL));
  if (protocols.length > 0) out['sec-websocket-protocol'] = protocols.join(', ');
  if (lease.principal.key !== ANONYMOUS.key) out[USER_ID_HEADER] = lease.principal.userId;
  return out;
}

/** The sandbox's refusal of the upgrade: berth's own error when the supervisor reports one, the agent's status otherwise. */
function refusal(answer: { status: number; headers: Http1Headers; body: Buffer }, door: 'ws' | 'shell'): BerthError {
  const marked = answer.headers['x-berth-error'];
  if (typeof marked === 'string') return supervisorError(marked, answer.body.toString('utf8'));
  const excerpt = answer.body.toString('utf8', 0, 500);
  const what = door === 'ws' ? 'the agent refused the WebSocket at /ws' : 'the sandbox refused the shell';
  return new BerthError('sandbox_failed', `${what} with HTTP ${answer.status}${excerpt ? `: ${excerpt}` : ''}`);
}
