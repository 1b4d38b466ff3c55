import type { Readable } from 'node:stream';
import type { Answer, AnswerHeaders, NodeAnswer } from '../../core/answer.ts';
import { BerthError, type JsonRpcId } from '../../core/errors.ts';
import type { RuntimeService } from '../../control/runtimes.ts';
import { classify, INPUT_CAPABLE_METHODS, type ModernRequest } from '../../mcp/classify.ts';
import { isNotification, readClientMessage, type JsonRpcMessage } from '../../mcp/jsonrpc.ts';
import { argumentsDigest, checkBinding, type RequestStateSealer, type StateBinding } from '../../mcp/request-state.ts';
import type { Logger } from '../../observability/logger.ts';
import type { BerthMetrics } from '../../observability/berth-metrics.ts';
import { notes } from '../../observability/request-scope.ts';
import { NO_SPAN, type TraceSpan, type Tracing } from '../../observability/tracing.ts';
import type { Lease, SessionManager } from '../../sessions/manager.ts';
import type { SessionLeases } from '../pipeline/lease.ts';
import { jsonResponse } from '../../core/http.ts';
import { readRequestBody } from '../node-bodies.ts';
import { callChannel, overlaidHeaders, readAnswerUpTo, relayAnswer, relayWhole, SESSION_HEADER, type ChannelAnswer } from './channel-call.ts';
import { InFlightCalls } from './in-flight.ts';
import { listenHeaders } from './listen-accept.ts';
import { ToolHeaderIndex } from './tool-headers.ts';
import type { DiscoverCache } from './discover-cache.ts';
import type { LegacyFacade } from './legacy-facade.ts';
import type { RuntimeSpec } from '../../store/store.ts';
import { MAX_INSPECTED_JSON, sealEvents, sealJson, type Sealing } from './seal-answers.ts';
import { ANONYMOUS } from '../auth/principal.ts';
import type { Caller } from '../pipeline/caller.ts';
import { doorError } from '../pipeline/door-errors.ts';
import { namedSession, sessionKey } from '../pipeline/session-key.ts';
import { rpcErrorResponse } from './rpc-errors.ts';
import type { SessionScope } from '../auth/session-scope.ts';

export interface McpEndpointOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  /** The pipeline's lease step, where the session's sandbox is taken. */
  leases: SessionLeases;
  maxBodyBytes: number;
  logger: Logger;
  sealer: RequestStateSealer;
  /** How long a sealed requestState stays good: as long as the server waits for its answers. */
  inputTimeoutMs: number;
  legacy: LegacyFacade;
  /** The session of a request that names none. */
  scope: SessionScope;
  /** What each version's servers answered `server/discover`, shared with the warming of new versions. */
  discovers: DiscoverCache;
  tracing: Tracing;
  metrics: BerthMetrics;
  /**
   * On a node of a cluster, for a request whose head names no session: passed on with the body read to the node
   * holding the session its requestState names (`session`), or, naming none, to a member with room when this node
   * has none; undefined when it is served here.
   */
  toOwner?: (caller: Caller, session: string | undefined, body: Uint8Array) => Promise<Answer | undefined>;
}

/**
 * `POST /runtimes/{name}/mcp` (and the same with the session in the URL). The message is read whole — berth must
 * check it before any sandbox sees it — and classified once. A 2026-07-28 request goes to its session's sandbox:
 * its requestState, if any, is opened and checked here, and names the session; an `input_required` answer leaves
 * with its requestState sealed. Legacy traffic goes to the legacy facade. Answers stream as they come.
 */
export function createMcpEndpoint(options: McpEndpointOptions) {
  const { runtimes, sessions, leases, maxBodyBytes, sealer, inputTimeoutMs, legacy, scope, discovers, tracing, metrics } = options;
  const inFlight = new InFlightCalls();
  const toolHeaders = new ToolHeaderIndex();

  return async (caller: Caller): Promise<Answer> => {
    const { headers: requestHeaders, runtime, endpoint, principal } = caller;
    let rpcId: JsonRpcId = null;
    let sessionId: string | undefined;
    let lease: Lease | undefined;
    let tracked: ReturnType<InFlightCalls['track']> | undefined;
    /** The call in the sandbox, from its sending to its answer's end. */
    let call: TraceSpan = NO_SPAN;
    const noted = notes();
    noted.door = 'mcp';
    try {
      const type = requestHeaders.get('content-type') ?? '';
      if (!type.includes('application/json')) {
        throw new BerthError('unsupported_media_type', 'MCP requests are JSON: send Content-Type: application/json');
      }
      const body = await readRequestBody(caller.inbound, maxBodyBytes);
      const message = parseMessage(body);
      if ('id' in message && message.id !== undefined) rpcId = message.id;
      const classified = classify(requestHeaders, message);
      noted.method = 'method' in message ? message.method : 'response';
      if (classified.era === 'modern' && classified.method === 'tools/call') noted.tool = classified.name;
      if (classified.era === 'legacy') {
        // One that names no session starts one: on another member when this node has no room.
        const routed = await options.toOwner?.(caller, undefined, body);
        return routed ?? (await legacy.post(caller, message));
      }

      // What goes to the sandbox: the body as it came, unless berth changes the message (its requestState opened,
      // its trace context added); then the message as changed, serialized once.
      let outgoing: JsonRpcMessage | undefined;
      let stateSession: string | undefined;
      if (classified.era === 'modern' && classified.params.requestState !== undefined) {
        if (typeof classified.params.requestState !== 'string') {
          throw new BerthError('request_state_invalid', 'requestState must be the string a previous input_required result gave');
        }
        const opened = sealer.open(classified.params.requestState);
        checkBinding(opened, bindingOf(classified, runtime, principal.key));
        stateSession = opened.session;
        outgoing = withRequestState(message, opened.inner);
        // The round this request answers: from its input_required answer leaving to the client's answers arriving.
        if (tracing.enabled) tracing.start('mcp.input_round', { 'mcp.method.name': classified.method }, { startTime: opened.expiresAt - inputTimeoutMs }).end();
      }
      // The session its requestState names may be held elsewhere; one naming none may start on another member.
      const routed = await options.toOwner?.(caller, stateSession, body);
      if (routed) return routed;
      if (classified.era === 'modern' && classified.method === 'server/discover' && stateSession === undefined && namedSession(caller) === undefined) {
        const found = caller.resolved?.version;
        if (found) {
          refuseSessionlessDiscover(caller, found.spec);
          const known = discovers.get(`${runtime}@${found.version}`);
          if (known) return jsonResponse(200, { jsonrpc: '2.0', id: rpcId, result: known });
        }
      }
      // A session berth makes for a request that names none is the client's only if it comes back to it.
      let minted = false;
      sessionId = sessionKey(caller, {
        stateSession,
        fresh: () => {
          const fresh = scope.fresh(caller.resolved?.version.spec, runtime, principal);
          minted = !scope.isOwn(fresh);
          return fresh;
        },
      });
      noted.session = sessionId;
      if (classified.era === 'modern-notification' && classified.method === 'notifications/cancelled' && isNotification(message)) {
        inFlight.cancel(sessionId, message.params?.requestId);
        return new Response(null, { status: 202 });
      }
      // A notification or a response for a session that is not live has nobody to hear it; starting a sandbox
      // just to drop it would let anyone start sandboxes for free.
      if (classified.era !== 'modern' && !sessions.has(sessionId)) {
        return new Response(null, { status: 202 });
      }
      // No such runtime or endpoint: resolving again says which, in the registry's words.
      const resolved = caller.resolved ?? (await runtimes.resolve(runtime, endpoint));
      if (resolved.version.spec.protocol !== 'mcp') {
        throw new BerthError('invalid_request', `runtime "${runtime}" is an http agent: call POST /runtimes/${runtime}/invocations`);
      }
      const version = `${runtime}@${resolved.version.version}`;
      noted.runtime = runtime;
      noted.version = resolved.version.version;
      if (classified.era === 'modern' && classified.method === 'tools/call')
        toolHeaders.check(version, classified.name, requestHeaders, classified.params.arguments);
      const headers = classified.era === 'modern' && classified.method === 'subscriptions/listen' ? listenHeaders(requestHeaders) : requestHeaders;
      lease = await leases.take({ session: sessionId, target: resolved.target, principal, minted });
      tracked = rpcId === null ? undefined : inFlight.track(sessionId, rpcId, caller.signal);
      let sent = headers;
      if (tracing.enabled) {
        // The server's own spans join the trace as children of this call: W3C context in `_meta` (SEP-414), read by
        // any server, and in the headers an HTTP server gets.
        call = tracing.start(
          'berth.sandbox.call',
          { 'mcp.method.name': noted.method, 'gen_ai.tool.name': noted.tool, 'mcp.session.id': sessionId },
          { kind: 'client' },
        );
        const context = call.propagation();
        sent = overlaidHeaders(headers, context);
        outgoing = withTraceContext(outgoing ?? message, context);
      }
      let answer = await callChannel(lease, sent, outgoing ? JSON.stringify(outgoing) : body, tracked?.signal ?? caller.signal);
      if (classified.era === 'modern' && classified.method === 'tools/list') {
        answer = {
          status: answer.status,
          headers: answer.headers,
          body: toolHeaders.observe(version, answer.body, String(answer.headers['content-type'] ?? '')),
        };
      }
      if (classified.era === 'modern' && classified.method === 'server/discover') {
        answer = {
          status: answer.status,
          headers: answer.headers,
          body: discovers.observe(version, answer.body, String(answer.headers['content-type'] ?? '')),
        };
      }
      const boundSession = sessionId;
      const sealing =
        classified.era === 'modern' && INPUT_CAPABLE_METHODS.has(classified.method)
          ? {
              sealer,
              binding: () => ({ ...bindingOf(classified, runtime, principal.key), session: boundSession }),
              ttlMs: inputTimeoutMs,
              issued: () => {
                metrics.inputRound(runtime);
                call.event('mcp.input_required');
              },
            }
          : undefined;
      // A JSON answer to seal is read whole anyway (its requestState may change its length): it leaves with its
      // length, head and body in one write. One too long to be an input_required result streams on untouched.
      if (sealing && String(answer.headers['content-type'] ?? '').includes('application/json')) {
        const read = await readAnswerUpTo(lease, answer, MAX_INSPECTED_JSON);
        if (Buffer.isBuffer(read)) {
          lease.release();
          tracked?.done();
          const sealed = sealJson(read, sealing);
          call.end();
          return relayWhole(answer, lease.sessionId, sealed);
        }
        return answerResponse({ status: answer.status, headers: answer.headers, body: read }, lease, undefined, callDone(call, tracked));
      }
      return answerResponse(answer, lease, sealing, callDone(call, tracked));
    } catch (error) {
      lease?.release();
      tracked?.done();
      call.fail(error);
      call.end();
      return doorError(caller, error, (berth) => rpcErrorResponse(berth, rpcId, sessionId));
    }
  };
}

/** One decoder for every message: decoding whole (not streamed) keeps no state between calls. */
const UTF8 = new TextDecoder();

function parseMessage(body: Uint8Array): JsonRpcMessage {
  return readClientMessage(UTF8.decode(body));
}

/** What ends when a call's answer is over: its in-flight record and its span. */
function callDone(call: TraceSpan, tracked: { done(): void } | undefined): () => void {
  return () => {
    tracked?.done();
    call.end();
  };
}

/** The message with the W3C trace context (`traceparent`, `tracestate`, `baggage`) of the call in its `_meta`. */
function withTraceContext(message: JsonRpcMessage, context: Record<string, string>): JsonRpcMessage {
  if (!('method' in message)) return message;
  const params = { ...(message.params ?? {}) };
  params._meta = { ...((params._meta as Record<string, unknown> | undefined) ?? {}), ...context };
  return { ...message, params } as JsonRpcMessage;
}

/** What a requestState of this request is bound to, but the session. */
function bindingOf(request: ModernRequest, runtime: string, principal: string): Omit<StateBinding, 'session'> {
  const args = request.method === 'resources/read' ? undefined : request.params.arguments;
  return { runtime, principal, method: request.method, name: request.name ?? '', digest: argumentsDigest(args) };
}

function withRequestState(message: JsonRpcMessage, inner: string | undefined): JsonRpcMessage {
  const params = { ...(('params' in message ? message.params : undefined) ?? {}) };
  if (inner === undefined) delete params.requestState;
  else params.requestState = inner;
  return { ...message, params } as JsonRpcMessage;
}

/**
 * A 2026-07-28 client that names no session and asks `server/discover` is about to speak the stateless revision
 * without one, and so to lose its state with every request. Unless its runtime says its clients may
 * (`sessionlessClients: stateless`), or sessions follow the caller, berth answers as a stateful-era server does to a
 * request without its session: 400 with -32000, on which every client falls back to `initialize`, keeping its state
 * under the `Mcp-Session-Id` it then echoes. No sandbox starts for it. A client that names a session keeps 2026-07-28.
 */
function refuseSessionlessDiscover({ principal, runtime }: Caller, spec: RuntimeSpec): void {
  if (spec.sessionlessClients === 'stateless') return;
  if (spec.sessionScope === 'principal' && principal.key !== ANONYMOUS.key) return;
  throw new BerthError(
    'session_required',
    `Bad Request: this request names no session, and runtime "${runtime}" keeps each client's state in a session: send initialize to open one, or name a session in the ${SESSION_HEADER} header`,
  );
}

/** The sandbox's answer as the client's, streamed, its requestStates sealed; the lease is released when the answer is over. */
function answerResponse(answer: ChannelAnswer, lease: Lease, sealing: Sealing | undefined, done: (() => void) | undefined): NodeAnswer {
  const reshape = sealing
    ? (body: Readable, headers: AnswerHeaders): Readable => {
        if (!String(headers['content-type'] ?? '').includes('text/event-stream')) return body;
        delete headers['content-length'];
        return sealEvents(body, sealing);
      }
    : undefined;
  return relayAnswer(
    answer,
    lease.sessionId,
    () => {
      lease.release();
      done?.();
    },
    reshape,
  );
}
