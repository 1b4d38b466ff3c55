import type { RequestHeaders } from '../core/inbound.ts';
import { randomUUID } from 'node:crypto';
import type { Answer } from '../core/answer.ts';
import { CHANNEL_INVOCATIONS_PATH } from '../core/channel.ts';
import { BerthError, isBerthError, restErrorBody } from '../core/errors.ts';
import { errorHeaders, jsonResponse } from '../core/http.ts';
import type { RuntimeService } from '../control/runtimes.ts';
import type { Logger } from '../observability/logger.ts';
import type { Lease } from '../sessions/manager.ts';
import type { SessionLeases } from './pipeline/lease.ts';
import { callChannel, relayAnswer, SESSION_HEADER, type ChannelAnswer, type ChannelBody } from './mcp/channel-call.ts';
import { streamRequestBody } from './node-bodies.ts';
import type { Caller } from './pipeline/caller.ts';
import { doorError } from './pipeline/door-errors.ts';
import { sessionKey } from './pipeline/session-key.ts';
import type { SessionScope } from './auth/session-scope.ts';
import { notes } from '../observability/request-scope.ts';

/** A fresh id for each invocation, which the agent gets as AgentCore's agents do. */
export const REQUEST_ID_HEADER = 'x-amzn-bedrock-agentcore-runtime-request-id';
/**
 * The caller's headers an agent gets, as AgentCore passes them (and A2A's, which an A2A server reads its protocol
 * version and extensions from: AgentCore is a transparent proxy for A2A); the rest stay at the edge.
 */
const PASSED_TO_AGENT = ['content-type', 'accept', 'traceparent', 'tracestate', 'baggage', 'x-amzn-trace-id', 'a2a-version', 'a2a-extensions'];
/** AgentCore's prefix for headers a caller means for the agent itself. */
const CUSTOM_HEADER_PREFIX = 'x-amzn-bedrock-agentcore-runtime-custom-';

export interface InvocationsEndpointOptions {
  runtimes: RuntimeService;
  /** The pipeline's lease step, where the session's sandbox is taken. */
  leases: SessionLeases;
  /** The largest invocation body; a larger one is refused (413). */
  maxBodyBytes: number;
  logger: Logger;
  /** The session of an invocation that names none. */
  scope: SessionScope;
}

/**
 * `POST /runtimes/{name}/invocations` (`?endpoint=NAME`): an agent's invocation, AgentCore's HTTP contract (an A2A
 * agent's JSON-RPC, an AG-UI agent's run).
 * The session is the one the session header names, or a new one, returned in that header. The body streams to
 * the session's agent as it arrives and the agent's answer (JSON, SSE, anything) streams back with its status and
 * type; the session's lease is held until the answer is over. Errors are REST errors.
 */
export function createInvocationsEndpoint(options: InvocationsEndpointOptions) {
  const { runtimes, leases, maxBodyBytes, logger, scope } = options;
  return async (caller: Caller): Promise<Answer> => {
    notes().door = 'invocations';
    const { runtime, endpoint, principal } = caller;
    let sessionId: string | undefined;
    let lease: Lease | undefined;
    try {
      const resolved = caller.resolved ?? (await runtimes.resolve(runtime, endpoint));
      if (resolved.version.spec.protocol === 'mcp') {
        throw new BerthError('invalid_request', `runtime "${runtime}" is an MCP server, not an agent: call POST /runtimes/${runtime}/mcp`);
      }
      // A session berth makes for a request that names none is the caller's only if it comes back to it.
      let minted = false;
      sessionId = sessionKey(caller, {
        fresh: () => {
          const fresh = scope.fresh(resolved.version.spec, runtime, principal);
          minted = !scope.isOwn(fresh);
          return fresh;
        },
      });
      const body = streamRequestBody(caller.inbound, maxBodyBytes);
      lease = await leases.take({ session: sessionId, target: resolved.target, principal, minted });
      const answer = await invokeAgent(lease, caller.headers, body, caller.signal);
      return relayAnswer(answer, lease.sessionId, lease.release);
    } catch (error) {
      lease?.release();
      if (!isBerthError(error)) logger.error('invocation failed', { runtime, session: sessionId, err: error });
      const session = sessionId;
      return doorError(caller, error, (berth) => restErrorWithSession(berth, session));
    }
  };
}

/**
 * Sends one invocation to the http agent that holds the lease's session, with the caller's headers an agent may
 * see, the session's id and a fresh request id, and returns the agent's answer as it starts to arrive. For every
 * front end that invokes agents (the native endpoint, AgentCore's InvokeAgentRuntime).
 */
export function invokeAgent(lease: Lease, callerHeaders: RequestHeaders, body: ChannelBody, signal: AbortSignal): Promise<ChannelAnswer> {
  return callChannel(lease, agentHeaders(lease, callerHeaders), body, signal, CHANNEL_INVOCATIONS_PATH);
}

/** What an agent hears of a request to it: the caller's headers an agent may see, the session's id and a fresh request id. */
export function agentHeaders(lease: Lease, callerHeaders: RequestHeaders): Headers {
  const headers = new Headers();
  for (const name of PASSED_TO_AGENT) {
    const value = callerHeaders.get(name);
    if (value !== null) headers.set(name, value);
  }
  callerHeaders.forEach((value, name) => {
    if (name.startsWith(CUSTOM_HEADER_PREFIX)) headers.set(name, value);
  });
  headers.set(SESSION_HEADER, lease.sessionId);
  headers.set(REQUEST_ID_HEADER, randomUUID());
  return headers;
}

/** A REST error that still names the session it concerns, unless the session id itself was what was wrong. */
export function restErrorWithSession(error: BerthError, sessionId: string | undefined): Response {
  const headers = errorHeaders(error);
  if (sessionId !== undefined && error.code !== 'invalid_session_id') headers[SESSION_HEADER] = sessionId;
  return jsonResponse(error.status, restErrorBody(error), headers);
}
