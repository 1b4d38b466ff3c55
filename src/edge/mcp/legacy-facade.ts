import { randomUUID } from 'node:crypto';
import { BerthError, toBerthError } from '../../core/errors.ts';
import type { RuntimeService } from '../../control/runtimes.ts';
import { META_PROTOCOL_VERSION, MODERN_VERSION } from '../../mcp/classify.ts';
import { initializeFromDiscover } from '../../mcp/legacy.ts';
import {
  httpStatusForRpcError,
  isNotification,
  isRequest,
  isResponse,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../../mcp/jsonrpc.ts';
import { SSE_HEADERS } from '../../mcp/sse.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Caller } from '../pipeline/caller.ts';
import { sessionKey } from '../pipeline/session-key.ts';
import type { SessionScope } from '../auth/session-scope.ts';
import type { Lease, SessionManager } from '../../sessions/manager.ts';
import type { SessionLeases } from '../pipeline/lease.ts';
import { callChannel, SESSION_HEADER } from './channel-call.ts';
import { noTracing, type Tracing } from '../../observability/tracing.ts';
import { LegacyClients, type ClientSession } from './legacy-clients.ts';
import { askClient, modernCall } from './legacy-exchange.ts';
import { checkCap, declarationOf, logLevelOf, uriOf, type LegacyClientLimits } from './legacy-kept.ts';
import { relisten } from './legacy-listen.ts';
import { json, sessionGone, sessionHeaders, toLegacyResponse, withoutParams } from './legacy-wire.ts';
import { SseOut } from './sse-out.ts';

/** Rounds of questions one request may take before berth gives up on it: a server that never settles is a bug. */
const MAX_INPUT_ROUNDS = 32;
/** Fields a client must not set on a request: berth carries them between rounds itself. */
const BERTH_OWNED_PARAMS = ['requestState', 'inputResponses'];

export interface LegacyFacadeOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  /** The pipeline's lease step, where the session's sandbox is taken. */
  leases: SessionLeases;
  logger: Logger;
  inputTimeoutMs: number;
  /** The session an `initialize` that names none opens. */
  scope: SessionScope;
  limits: LegacyClientLimits;
  /** Spans of each call into the sandbox and each round of questions the client answers. */
  tracing?: Tracing;
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
  readonly #clients = new LegacyClients();

  constructor(options: LegacyFacadeOptions) {
    this.#options = options;
    // A session that ends (idle, lifetime, crash, stop) ends the client's MCP session too: its next request gets
    // 404 and so initializes again, rather than silently reaching a fresh sandbox with none of its state.
    options.sessions.onEnd((ended) => {
      for (const client of this.#clients.clientsOf(ended.id)) this.#clients.forget(client);
    });
  }

  async post(caller: Caller, message: JsonRpcMessage): Promise<Response> {
    const mcpSession = caller.headers.get('mcp-session-id');
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
      if (message.method === 'notifications/roots/list_changed' && client.capabilities.roots !== undefined) await this.#rootsChanged(client, caller.signal);
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
          checkCap(this.#options.limits, 'subscriptions', this.#clients.subscriptionsIn(client.session));
          client.subscriptions.add(uri);
        }
        relisten(client, (known) => this.#lease(known, true), this.#options.logger);
        return json(client, { jsonrpc: '2.0', id: call.id, result: {} });
      }
    }
    return this.#relay(client, call, caller.signal);
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
    relisten(client, (known) => this.#lease(known, true), this.#options.logger);
    return new Response(out.stream, { status: 200, headers: { ...SSE_HEADERS, ...sessionHeaders(client) } });
  }

  /**
   * DELETE: the client is done; its session and sandbox end, unless the session is its principal's own, which
   * stays for the principal's next client until it idles out.
   */
  async delete(caller: Caller): Promise<Response> {
    const client = this.#client(caller);
    this.#clients.forget(client);
    if (!client.shared) await this.#options.sessions.stop(client.session);
    return new Response(null, { status: 204 });
  }

  #client({ headers, runtime, principal }: Caller): ClientSession {
    const mcpSession = headers.get('mcp-session-id');
    const client = mcpSession === null ? undefined : this.#clients.get(mcpSession);
    // Another principal's Mcp-Session-Id is answered as one that does not exist.
    if (!client || client.runtime !== runtime || client.principal.key !== principal.key) throw sessionGone();
    return client;
  }

  async #initialize(caller: Caller, message: JsonRpcRequest): Promise<Response> {
    const { runtime, endpoint, principal } = caller;
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
      discover = await modernCall(
        lease,
        { session, capabilities, clientInfo },
        { jsonrpc: '2.0', id: message.id, method: 'server/discover', params: {} },
        caller.signal,
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
    const before = this.#clients.clientsOf(session);
    // A principal's clients that went without a DELETE (an app quit) would pile up for the session's life: the
    // oldest go past the cap.
    const keep = this.#options.limits.legacyClients - 1;
    for (const old of shared ? before.slice(0, Math.max(0, before.length - keep)) : before) this.#clients.forget(old);
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
    this.#clients.remember(client);
    return json(client, { jsonrpc: '2.0', id: message.id, result: init as unknown as Record<string, unknown> });
  }

  /**
   * A client request, relayed as 2026-07-28. The answer is always an SSE stream: progress and logs go on it as
   * they come, and so do berth's questions to the client when the server needs input. One lease covers every round,
   * so the session is busy (never idle) while its client thinks about an answer.
   */
  async #relay(client: ClientSession, call: JsonRpcRequest, clientGone: AbortSignal): Promise<Response> {
    const tracing = this.#options.tracing ?? noTracing;
    const lease = await this.#lease(client, true);
    const controller = new AbortController();
    const onClientGone = (): void => controller.abort();
    clientGone.addEventListener('abort', onClientGone, { once: true });
    const key = String(call.id);
    client.inFlight.set(key, controller);
    const out = new SseOut(() => controller.abort());
    const original = withoutParams(call.params ?? {}, BERTH_OWNED_PARAMS);
    void (async () => {
      try {
        let params = original;
        for (let round = 1; ; round++) {
          const response = await modernCall(
            lease,
            client,
            { ...call, params },
            controller.signal,
            (note) => (isNotification(note) ? out.send(note) : undefined),
            tracing,
          );
          const result = response.result;
          if (!result || result.resultType !== 'input_required') {
            // The answer is to this request, whatever id a misbehaving server put on it.
            await out.send({ ...toLegacyResponse(response), id: call.id });
            break;
          }
          if (round === MAX_INPUT_ROUNDS) {
            throw new BerthError(
              'sandbox_failed',
              `runtime "${client.runtime}" still needed input after ${MAX_INPUT_ROUNDS} rounds of questions; the request was abandoned`,
            );
          }
          // The server needs input: ask the client, then send the request again with its answers.
          checkCap(this.#options.limits, 'pendingInputs', this.#clients.waitingIn(client.session));
          client.waitingInputs++;
          let inputResponses: Record<string, unknown>;
          // The round: from the questions sent on the client's stream to its last answer.
          const asking = tracing.start('mcp.input_round', { 'mcp.method.name': call.method, 'berth.round': round });
          try {
            inputResponses = await askClient(
              client,
              out,
              (result.inputRequests ?? {}) as Record<string, { method: string; params?: Record<string, unknown> }>,
              controller.signal,
              this.#options.inputTimeoutMs,
            );
          } catch (error) {
            asking.fail(error);
            throw error;
          } finally {
            asking.end();
            client.waitingInputs--;
          }
          params = { ...original, inputResponses };
          if (typeof result.requestState === 'string') params.requestState = result.requestState;
        }
      } catch (error) {
        if (!controller.signal.aborted) {
          const err = toBerthError(error);
          // A failure of berth or the sandbox, not the client's doing, is worth an operator's look.
          if (err.status >= 500)
            this.#options.logger.warn('legacy client request failed', { session: client.session, method: call.method, code: err.code, err: error });
          await out.send({ jsonrpc: '2.0', id: call.id, error: { code: err.rpcCode, message: err.message, data: { code: err.code } } });
        }
      } finally {
        lease.release();
        clientGone.removeEventListener('abort', onClientGone);
        client.inFlight.delete(key);
        out.close();
      }
    })();
    return new Response(out.stream, { status: 200, headers: { ...SSE_HEADERS, ...sessionHeaders(client) } });
  }

  /**
   * A claim on the client's session. Past `initialize` the session must still be live: a client whose session
   * ended learns so (404), rather than reaching a fresh sandbox under its old session id.
   */
  async #lease(client: Pick<ClientSession, 'id' | 'session' | 'runtime' | 'endpoint' | 'principal'>, existing: boolean): Promise<Lease> {
    const resolved = await this.#options.runtimes.resolve(client.runtime, client.endpoint);
    try {
      return await this.#options.leases.take({ session: client.session, target: resolved.target, principal: client.principal, existing });
    } catch (error) {
      const err = toBerthError(error);
      if (err.code === 'session_not_found') {
        const known = this.#clients.get(client.id);
        if (known) this.#clients.drop(known);
      }
      throw err.code === 'session_not_found' ? sessionGone() : err;
    }
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
      const answer = await callChannel(
        lease,
        headers,
        JSON.stringify({ jsonrpc: '2.0', method, params: { _meta: { [META_PROTOCOL_VERSION]: MODERN_VERSION } } }),
        signal,
      );
      answer.body.resume();
    } catch (error) {
      // A notification has no answer to carry a failure; the server keeps the roots it has.
      this.#options.logger.debug("a legacy client's roots change did not reach its sandbox", { session: client.session, err: error });
    } finally {
      lease.release();
    }
  }
}
