import { randomUUID } from 'node:crypto';
import { BerthError, toBerthError } from '../../core/errors.ts';
import type { RuntimeService } from '../../control/runtimes.ts';
import {
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_LOG_LEVEL,
  META_PROTOCOL_VERSION,
  META_SERVER_INFO,
  META_SUBSCRIPTION_ID,
  MODERN_VERSION,
} from '../../mcp/classify.ts';
import { initializeFromDiscover } from '../../mcp/legacy.ts';
import { httpStatusForRpcError, isNotification, isRequest, isResponse, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { SSE_HEADERS } from '../../mcp/sse.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Principal } from '../auth/principal.ts';
import type { Caller } from '../pipeline/caller.ts';
import { sessionKey } from '../pipeline/session-key.ts';
import type { SessionScope } from '../auth/session-scope.ts';
import type { Lease, SessionManager } from '../../sessions/manager.ts';
import { readAnswer } from './answer-reader.ts';
import { callChannel, SESSION_HEADER } from './channel-call.ts';
import { checkCap, declarationOf, headerNameOf, logLevelOf, uriOf, type LegacyClientLimits } from './legacy-kept.ts';
import { SseOut } from './sse-out.ts';

/** Rounds of questions one request may take before berth gives up on it: a server that never settles is a bug. */
const MAX_INPUT_ROUNDS = 32;
/** Tries of a listen stream refused at the session's cap, and the pause between: see #relisten. */
const RELISTEN_ATTEMPTS = 5;
const RELISTEN_RETRY_MS = 50;
/** Fields a client must not set on a request: berth carries them between rounds itself. */
const BERTH_OWNED_PARAMS = ['requestState', 'inputResponses'];
/** Modern-only result fields a stateful-era client has no use for. */
const MODERN_RESULT_FIELDS = ['resultType', 'ttlMs', 'cacheScope'];

interface ClientSession {
  /** Its Mcp-Session-Id: its berth session's id, unless another client already spoke for that session. */
  id: string;
  /** The berth session it is in; clients of a principal whose sessions follow it share one. */
  session: string;
  /** True when the session is its principal's own, which outlives any one client of it. */
  shared: boolean;
  /** Who initialized it; no one else may use its Mcp-Session-Id. */
  principal: Principal;
  runtime: string;
  endpoint: string | undefined;
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  clientInfo: unknown;
  serverCapabilities: Record<string, unknown>;
  logLevel?: string;
  subscriptions: Set<string>;
  /** Its requests now waiting on its answers to the server's questions. */
  waitingInputs: number;
  /** Our requests to the client, waiting for the responses it POSTs. */
  asked: Map<string, (response: JsonRpcResponse) => void>;
  /** The client's requests in flight, by id, so `notifications/cancelled` can stop them. */
  inFlight: Map<string, AbortController>;
  getStream?: SseOut;
  listen?: AbortController;
  /** Settles once the listen stream that feeds the GET stream is over. */
  listenEnded?: Promise<void>;
  nextAsk: number;
}

export interface LegacyFacadeOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  logger: Logger;
  inputTimeoutMs: number;
  /** The session an `initialize` that names none opens. */
  scope: SessionScope;
  limits: LegacyClientLimits;
}

/**
 * berth as a stateful-era (2025-11-25 and earlier) Streamable HTTP server, for legacy clients, in front of any
 * runtime. `initialize` opens an MCP session whose `Mcp-Session-Id` is the berth session id; each request then
 * travels to the sandbox as a 2026-07-28 request carrying the capabilities the client declared at `initialize`.
 * When the answer is `input_required`, berth asks the client itself — real `elicitation/create`,
 * `sampling/createMessage` and `roots/list` requests on the POST's SSE stream — collects the answers the client
 * POSTs back, and retries the request with them, round after round. The GET stream carries list changes and
 * resource updates from a `subscriptions/listen` berth keeps open; DELETE ends the session.
 */
export class LegacyFacade {
  readonly #options: LegacyFacadeOptions;
  readonly #clients = new Map<string, ClientSession>();
  /** The clients of each berth session, oldest first: the caps count across them. */
  readonly #bySession = new Map<string, ClientSession[]>();

  constructor(options: LegacyFacadeOptions) {
    this.#options = options;
    // A session that ends (idle, lifetime, crash, stop) ends the client's MCP session too: its next request gets
    // 404 and so initializes again, rather than silently reaching a fresh sandbox with none of its state.
    options.sessions.onEnd((ended) => {
      for (const client of this.#clientsOf(ended.id)) this.#forget(client);
    });
  }

  async post(caller: Caller, message: JsonRpcMessage): Promise<Response> {
    const { request } = caller;
    const mcpSession = request.headers.get('mcp-session-id');
    if (mcpSession === null) {
      if (isRequest(message) && message.method === 'initialize') return this.#initialize(caller, message);
      throw new BerthError('invalid_request', 'Bad Request: no Mcp-Session-Id; start with initialize (or speak 2026-07-28, which needs no session)');
    }
    const client = this.#client(caller);
    if (isResponse(message)) {
      client.asked.get(String(message.id))?.(message);
      client.asked.delete(String(message.id));
      return new Response(null, { status: 202 });
    }
    if (isNotification(message)) {
      if (message.method === 'notifications/cancelled') client.inFlight.get(String(message.params?.requestId))?.abort();
      // Answered once the sandbox has it, so the client's next call finds its server told.
      if (message.method === 'notifications/roots/list_changed' && client.capabilities.roots !== undefined) await this.#rootsChanged(client, request.signal);
      return new Response(null, { status: 202 });
    }
    const call = message as JsonRpcRequest;
    switch (call.method) {
      case 'initialize':
        throw new BerthError('invalid_request', 'this MCP session is already initialized; send initialize without Mcp-Session-Id to start another');
      case 'ping':
        return json(client, { jsonrpc: '2.0', id: call.id, result: {} });
      case 'logging/setLevel':
        client.logLevel = logLevelOf(call.params?.level);
        return json(client, { jsonrpc: '2.0', id: call.id, result: {} });
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = uriOf(call.params?.uri);
        if (call.method === 'resources/unsubscribe') client.subscriptions.delete(uri);
        else if (!client.subscriptions.has(uri)) {
          checkCap(this.#options.limits, 'subscriptions', this.#subscriptionsIn(client.session));
          client.subscriptions.add(uri);
        }
        this.#relisten(client);
        return json(client, { jsonrpc: '2.0', id: call.id, result: {} });
      }
    }
    return this.#relay(client, call, request);
  }

  /** GET: the session's stream of list changes and resource updates. */
  get(caller: Caller): Response {
    const client = this.#client(caller);
    client.getStream?.close();
    const out = new SseOut(() => {
      if (client.getStream === out) {
        client.getStream = undefined;
        client.listen?.abort();
      }
    });
    client.getStream = out;
    this.#relisten(client);
    return new Response(out.stream, { status: 200, headers: { ...SSE_HEADERS, ...sessionHeaders(client) } });
  }

  /**
   * DELETE: the client is done; its session and sandbox end, unless the session is its principal's own, which
   * stays for the principal's next client until it idles out.
   */
  async delete(caller: Caller): Promise<Response> {
    const client = this.#client(caller);
    this.#forget(client);
    if (!client.shared) await this.#options.sessions.stop(client.session);
    return new Response(null, { status: 204 });
  }

  #client({ request, runtime, principal }: Caller): ClientSession {
    const mcpSession = request.headers.get('mcp-session-id');
    const client = mcpSession === null ? undefined : this.#clients.get(mcpSession);
    // Another principal's Mcp-Session-Id is answered as one that does not exist.
    if (!client || client.runtime !== runtime || client.principal.key !== principal.key) throw sessionGone();
    return client;
  }

  /** The clients in `session`, oldest first. */
  #clientsOf(session: string): ClientSession[] {
    return [...(this.#bySession.get(session) ?? [])];
  }

  #remember(client: ClientSession): void {
    this.#clients.set(client.id, client);
    this.#bySession.set(client.session, [...(this.#bySession.get(client.session) ?? []), client]);
  }

  /** Drops the client from berth's memory; nothing else of it ends. */
  #drop(client: ClientSession): void {
    if (this.#clients.get(client.id) === client) this.#clients.delete(client.id);
    const others = (this.#bySession.get(client.session) ?? []).filter((other) => other !== client);
    if (others.length > 0) this.#bySession.set(client.session, others);
    else this.#bySession.delete(client.session);
  }

  #subscriptionsIn(session: string): number {
    let count = 0;
    for (const client of this.#bySession.get(session) ?? []) count += client.subscriptions.size;
    return count;
  }

  #waitingIn(session: string): number {
    let count = 0;
    for (const client of this.#bySession.get(session) ?? []) count += client.waitingInputs;
    return count;
  }

  #forget(client: ClientSession): void {
    this.#drop(client);
    client.listen?.abort();
    client.getStream?.close();
    for (const controller of client.inFlight.values()) controller.abort();
  }

  async #initialize(caller: Caller, message: JsonRpcRequest): Promise<Response> {
    const { request, runtime, endpoint, principal } = caller;
    // Whether the client named its session is what sessionKey decided: it calls back only when none was named.
    let unnamed = false;
    const session = sessionKey(caller, {
      fresh: () => {
        unnamed = true;
        return this.#options.scope.fresh(caller.resolved?.version.spec, runtime, principal);
      },
    });
    const clientParams = message.params ?? {};
    const { capabilities, clientInfo } = declarationOf(clientParams);
    const lease = await this.#lease({ id: session, session, runtime, endpoint, principal }, false);
    let discover: JsonRpcResponse;
    try {
      discover = await this.#modernCall(
        lease,
        { session, capabilities, clientInfo },
        { jsonrpc: '2.0', id: message.id, method: 'server/discover', params: {} },
        request.signal,
        () => {},
      );
    } finally {
      lease.release();
    }
    // The server refusing what this client declared (a capability of the wrong shape) is the client's to hear, as a
    // server of its own era would tell it; only no answer at all is the server failing.
    if (discover.error) {
      const refusal: JsonRpcResponse = { jsonrpc: '2.0', id: message.id, error: discover.error };
      return new Response(JSON.stringify(refusal), { status: httpStatusForRpcError(discover.error.code), headers: { 'content-type': 'application/json' } });
    }
    if (!discover.result) throw new BerthError('sandbox_failed', `runtime "${runtime}" did not describe itself: it answered server/discover with nothing`);
    const init = initializeFromDiscover(discover.result, clientParams.protocolVersion);
    // A client that initializes into a session takes it over from every client before it, unless the session is its
    // principal's own (sessionScope principal): then it is another window, or the same app started again, and gets
    // an Mcp-Session-Id of its own, so neither takes the other's streams or calls.
    const shared = unnamed && this.#options.scope.isOwn(session);
    const before = this.#clientsOf(session);
    // A principal's clients that went without a DELETE (an app quit) would pile up for the session's life: the
    // oldest go past the cap.
    const keep = this.#options.limits.legacyClients - 1;
    for (const old of shared ? before.slice(0, Math.max(0, before.length - keep)) : before) this.#forget(old);
    // A forgotten client's id is never handed to a newer one: the older would reach the newer's calls and streams.
    const id = shared && before.length > 0 ? `${session}.${randomUUID()}` : session;
    const client: ClientSession = {
      id,
      session,
      shared,
      principal,
      runtime,
      endpoint,
      protocolVersion: init.protocolVersion,
      capabilities,
      clientInfo,
      serverCapabilities: init.capabilities,
      subscriptions: new Set(),
      waitingInputs: 0,
      asked: new Map(),
      inFlight: new Map(),
      nextAsk: 1,
    };
    this.#remember(client);
    return json(client, { jsonrpc: '2.0', id: message.id, result: init as unknown as Record<string, unknown> });
  }

  /**
   * A client request, relayed as 2026-07-28. The answer is always an SSE stream: progress and logs go on it as
   * they come, and so do berth's questions to the client when the server needs input. One lease covers every round,
   * so the session is busy (never idle) while its client thinks about an answer.
   */
  async #relay(client: ClientSession, call: JsonRpcRequest, request: Request): Promise<Response> {
    const lease = await this.#lease(client, true);
    const controller = new AbortController();
    const onClientGone = (): void => controller.abort();
    request.signal.addEventListener('abort', onClientGone, { once: true });
    const key = String(call.id);
    client.inFlight.set(key, controller);
    const out = new SseOut(() => controller.abort());
    const original = withoutParams(call.params ?? {}, BERTH_OWNED_PARAMS);
    void (async () => {
      try {
        let params = original;
        for (let round = 1; ; round++) {
          const response = await this.#modernCall(lease, client, { ...call, params }, controller.signal, (note) => (isNotification(note) ? out.send(note) : undefined));
          const result = response.result;
          if (!result || result.resultType !== 'input_required') {
            // The answer is to this request, whatever id a misbehaving server put on it.
            await out.send({ ...toLegacyResponse(response), id: call.id });
            break;
          }
          if (round === MAX_INPUT_ROUNDS) {
            throw new BerthError('sandbox_failed', `runtime "${client.runtime}" still needed input after ${MAX_INPUT_ROUNDS} rounds of questions; the request was abandoned`);
          }
          // The server needs input: ask the client, then send the request again with its answers.
          checkCap(this.#options.limits, 'pendingInputs', this.#waitingIn(client.session));
          client.waitingInputs++;
          let inputResponses: Record<string, unknown>;
          try {
            inputResponses = await this.#ask(client, out, (result.inputRequests ?? {}) as Record<string, { method: string; params?: Record<string, unknown> }>, controller.signal);
          } finally {
            client.waitingInputs--;
          }
          params = { ...original, inputResponses };
          if (typeof result.requestState === 'string') params.requestState = result.requestState;
        }
      } catch (error) {
        if (!controller.signal.aborted) {
          const err = toBerthError(error);
          // A failure of berth or the sandbox, not the client's doing, is worth an operator's look.
          if (err.status >= 500) this.#options.logger.warn('legacy client request failed', { session: client.session, method: call.method, code: err.code, err: error });
          await out.send({ jsonrpc: '2.0', id: call.id, error: { code: err.rpcCode, message: err.message, data: { code: err.code } } });
        }
      } finally {
        lease.release();
        request.signal.removeEventListener('abort', onClientGone);
        client.inFlight.delete(key);
        out.close();
      }
    })();
    return new Response(out.stream, { status: 200, headers: { ...SSE_HEADERS, ...sessionHeaders(client) } });
  }

  /** Sends each input request to the client as a real request and waits for all the answers. */
  #ask(client: ClientSession, out: SseOut, requests: Record<string, { method: string; params?: Record<string, unknown> }>, signal: AbortSignal): Promise<Record<string, unknown>> {
    const entries = Object.entries(requests);
    return new Promise((resolve, reject) => {
      const answers: Record<string, unknown> = {};
      let left = entries.length;
      const ids: string[] = [];
      const timer = setTimeout(() => fail(new BerthError('request_state_expired', 'the client did not answer the server\'s questions in time')), this.#options.inputTimeoutMs);
      const onAbort = (): void => fail(new Error('aborted'));
      const settle = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const fail = (error: Error): void => {
        settle();
        for (const id of ids) client.asked.delete(id);
        reject(error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (left === 0) {
        settle();
        resolve(answers);
        return;
      }
      for (const [key, input] of entries) {
        const id = `berth-${client.nextAsk++}`;
        ids.push(id);
        client.asked.set(id, (response) => {
          // A declined or failed question is still an answer: the server decides what it means.
          answers[key] = response.result ?? { error: response.error };
          if (--left === 0) {
            settle();
            resolve(answers);
          }
        });
        void out.send(input.params === undefined ? { jsonrpc: '2.0', id, method: input.method } : { jsonrpc: '2.0', id, method: input.method, params: input.params });
      }
    });
  }

  /**
   * A claim on the client's session. Past `initialize` the session must still be live: a client whose session
   * ended learns so (404), rather than reaching a fresh sandbox under its old session id.
   */
  async #lease(client: Pick<ClientSession, 'id' | 'session' | 'runtime' | 'endpoint' | 'principal'>, existing: boolean): Promise<Lease> {
    const resolved = this.#options.runtimes.resolve(client.runtime, client.endpoint);
    try {
      return await this.#options.sessions.acquire(client.session, resolved.target, client.principal, { existing });
    } catch (error) {
      const err = toBerthError(error);
      if (err.code === 'session_not_found') {
        const known = this.#clients.get(client.id);
        if (known) this.#drop(known);
      }
      throw err.code === 'session_not_found' ? sessionGone() : err;
    }
  }

  /** One 2026-07-28 exchange with the session's sandbox, on behalf of a legacy client. */
  async #modernCall(
    lease: Lease,
    client: Pick<ClientSession, 'session' | 'capabilities' | 'clientInfo'> & { logLevel?: string },
    call: JsonRpcRequest,
    signal: AbortSignal,
    onNotification: (message: JsonRpcMessage) => void | Promise<void>,
  ): Promise<JsonRpcResponse> {
    const params = call.params ?? {};
    const meta: Record<string, unknown> = {
      ...((params._meta as Record<string, unknown> | undefined) ?? {}),
      [META_PROTOCOL_VERSION]: MODERN_VERSION,
      [META_CLIENT_CAPABILITIES]: client.capabilities,
    };
    if (client.clientInfo !== undefined) meta[META_CLIENT_INFO] = client.clientInfo;
    if (client.logLevel !== undefined) meta[META_LOG_LEVEL] = client.logLevel;
    const body: JsonRpcRequest = { jsonrpc: '2.0', id: call.id, method: call.method, params: { ...params, _meta: meta } };
    const headers = new Headers({
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN_VERSION,
      'mcp-method': call.method,
      [SESSION_HEADER]: client.session,
    });
    const name = params.name ?? params.uri;
    if (typeof name === 'string') headers.set('mcp-name', headerNameOf(name));
    const answer = await callChannel(lease, headers, JSON.stringify(body), signal);
    return await readAnswer(answer, onNotification);
  }

  /**
   * A legacy client's word that its roots changed, passed to its session's sandbox: a legacy server there is told at
   * the next call whose client can give the new ones (src/supervisor/legacy/roots.ts); a 2026-07-28 server, which
   * asks for roots in each request that needs them, has no use for it.
   */
  async #rootsChanged(client: ClientSession, signal: AbortSignal): Promise<void> {
    const lease = await this.#lease(client, true);
    try {
      const method = 'notifications/roots/list_changed';
      const headers = new Headers({
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': MODERN_VERSION,
        'mcp-method': method,
        [SESSION_HEADER]: client.session,
      });
      const answer = await callChannel(lease, headers, JSON.stringify({ jsonrpc: '2.0', method, params: { _meta: { [META_PROTOCOL_VERSION]: MODERN_VERSION } } }), signal);
      answer.body.resume();
    } catch (error) {
      // A notification has no answer to carry a failure; the server keeps the roots it has.
      this.#options.logger.debug('a legacy client\'s roots change did not reach its sandbox', { session: client.session, err: error });
    } finally {
      lease.release();
    }
  }

  /** Keeps a `subscriptions/listen` open while the GET stream is, for what the client may want to hear. */
  #relisten(client: ClientSession): void {
    client.listen?.abort();
    client.listen = undefined;
    const stream = client.getStream;
    if (!stream || stream.closed) return;
    const caps = client.serverCapabilities as { tools?: { listChanged?: boolean }; prompts?: { listChanged?: boolean }; resources?: { listChanged?: boolean; subscribe?: boolean } };
    const notifications: Record<string, unknown> = {};
    if (caps.tools?.listChanged) notifications.toolsListChanged = true;
    if (caps.prompts?.listChanged) notifications.promptsListChanged = true;
    if (caps.resources?.listChanged) notifications.resourcesListChanged = true;
    if (caps.resources?.subscribe && client.subscriptions.size > 0) notifications.resourceSubscriptions = [...client.subscriptions];
    if (Object.keys(notifications).length === 0) return;
    const controller = new AbortController();
    client.listen = controller;
    const listen: JsonRpcRequest = { jsonrpc: '2.0', id: `berth-listen-${client.nextAsk++}`, method: 'subscriptions/listen', params: { notifications } };
    // The stream this one replaces ends first: both open at once would count twice against the session's cap on
    // listen streams. Its end reaches the sandbox a moment after it is over here, so a refusal at the cap is tried
    // again, briefly.
    const replaced = client.listenEnded ?? Promise.resolve();
    const feed = (async () => {
      await replaced;
      for (let attempt = 1; !controller.signal.aborted; attempt++) {
        const lease = await this.#lease(client, true);
        try {
          await this.#modernCall(lease, client, listen, controller.signal, (note) => {
            if (!isNotification(note) || note.method === 'notifications/subscriptions/acknowledged') return undefined;
            return stream.send(withoutSubscriptionId(note));
          });
          return;
        } catch (error) {
          if (controller.signal.aborted || toBerthError(error).code !== 'limit_exceeded' || attempt === RELISTEN_ATTEMPTS) throw error;
        } finally {
          lease.release();
        }
        await new Promise((resolve) => setTimeout(resolve, RELISTEN_RETRY_MS));
      }
    })();
    client.listenEnded = feed.then(
      () => {},
      () => {},
    );
    feed.catch((error: unknown) => {
      if (controller.signal.aborted) return;
      // At a cap the client hears nothing on its GET stream, so berth's operator must: the message names the setting.
      if (toBerthError(error).code === 'limit_exceeded') this.#options.logger.warn('legacy GET stream gets no notifications', { session: client.session, err: error });
      else this.#options.logger.debug('legacy GET stream feed ended', { session: client.session, err: error });
    });
  }
}

function sessionGone(): BerthError {
  return new BerthError('session_not_found', 'Session not found: this Mcp-Session-Id is unknown or has ended; send initialize without it to start a new session');
}

function withoutParams(params: Record<string, unknown>, names: string[]): Record<string, unknown> {
  if (!names.some((name) => name in params)) return params;
  const copy = { ...params };
  for (const name of names) delete copy[name];
  return copy;
}

function json(client: ClientSession, message: JsonRpcResponse): Response {
  return new Response(JSON.stringify(message), { status: 200, headers: { 'content-type': 'application/json', ...sessionHeaders(client) } });
}

/**
 * A legacy client's MCP session, and the berth session it is in, which AgentCore's SDK reads as `runtimeSessionId`
 * (it reads no Mcp-Session-Id).
 */
function sessionHeaders(client: Pick<ClientSession, 'id' | 'session'>): Record<string, string> {
  return { 'mcp-session-id': client.id, [SESSION_HEADER]: client.session };
}

function toLegacyResponse(response: JsonRpcResponse): JsonRpcResponse {
  if (!response.result) return response;
  const result = { ...response.result };
  for (const field of MODERN_RESULT_FIELDS) delete result[field];
  // A stateful-era client learned the server's identity at initialize; in a result's _meta it is noise that some
  // clients pass on into what the tool returned.
  const meta = result._meta as Record<string, unknown> | undefined;
  if (meta && META_SERVER_INFO in meta) {
    const { [META_SERVER_INFO]: _serverInfo, ...rest } = meta;
    if (Object.keys(rest).length === 0) delete result._meta;
    else result._meta = rest;
  }
  return { ...response, result };
}

function withoutSubscriptionId(message: JsonRpcMessage): JsonRpcMessage {
  const params = 'params' in message ? message.params : undefined;
  const meta = params?._meta as Record<string, unknown> | undefined;
  if (!meta || !(META_SUBSCRIPTION_ID in meta)) return message;
  const { [META_SUBSCRIPTION_ID]: _id, ...rest } = meta;
  return { ...message, params: { ...params, _meta: rest } } as JsonRpcMessage;
}
