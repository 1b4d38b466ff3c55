import { BerthError, toBerthError } from '../../core/errors.ts';
import type { Params } from '../../core/router.ts';
import type { RuntimeService } from '../../control/runtimes.ts';
import {
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_LOG_LEVEL,
  META_PROTOCOL_VERSION,
  META_SUBSCRIPTION_ID,
  MODERN_VERSION,
} from '../../mcp/classify.ts';
import { initializeFromDiscover } from '../../mcp/legacy.ts';
import { isNotification, isRequest, isResponse, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { SSE_HEADERS, sseEvent } from '../../mcp/sse.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Lease, SessionManager } from '../../sessions/manager.ts';
import { readAnswer } from './answer-reader.ts';
import { callChannel } from './channel-call.ts';
import { sessionKey, SESSION_HEADER } from './endpoint.ts';

const KEEP_ALIVE_MS = 20_000;
/** Modern-only result fields a stateful-era client has no use for. */
const MODERN_RESULT_FIELDS = ['resultType', 'ttlMs', 'cacheScope'];

interface ClientSession {
  id: string;
  runtime: string;
  endpoint: string | undefined;
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  clientInfo: unknown;
  serverCapabilities: Record<string, unknown>;
  logLevel?: string;
  subscriptions: Set<string>;
  /** Our requests to the client, waiting for the responses it POSTs. */
  asked: Map<string, (response: JsonRpcResponse) => void>;
  /** The client's requests in flight, by id, so `notifications/cancelled` can stop them. */
  inFlight: Map<string, AbortController>;
  getStream?: SseOut;
  listen?: AbortController;
  nextAsk: number;
}

/** An SSE stream the facade writes to. */
class SseOut {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  readonly #encoder = new TextEncoder();
  readonly #onCancel: () => void;

  constructor(onCancel: () => void) {
    this.#onCancel = onCancel;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#closed = true;
        this.#onCancel();
      },
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: JsonRpcMessage): void {
    this.#write(sseEvent(JSON.stringify(message)));
  }

  comment(): void {
    this.#write(':\n\n');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.close();
  }

  #write(text: string): void {
    if (!this.#closed) this.#controller.enqueue(this.#encoder.encode(text));
  }
}

export interface LegacyFacadeOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  logger: Logger;
  inputTimeoutMs: number;
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

  constructor(options: LegacyFacadeOptions) {
    this.#options = options;
  }

  async post(request: Request, message: JsonRpcMessage, params: Params, url: URL): Promise<Response> {
    const mcpSession = request.headers.get('mcp-session-id');
    if (mcpSession === null) {
      if (isRequest(message) && message.method === 'initialize') return this.#initialize(request, message, params, url);
      throw new BerthError('invalid_request', 'Bad Request: no Mcp-Session-Id; start with initialize (or speak 2026-07-28, which needs no session)');
    }
    const client = this.#client(mcpSession, params);
    if (isResponse(message)) {
      client.asked.get(String(message.id))?.(message);
      client.asked.delete(String(message.id));
      return new Response(null, { status: 202 });
    }
    if (isNotification(message)) {
      if (message.method === 'notifications/cancelled') client.inFlight.get(String(message.params?.requestId))?.abort();
      return new Response(null, { status: 202 });
    }
    const call = message as JsonRpcRequest;
    switch (call.method) {
      case 'initialize':
        throw new BerthError('invalid_request', 'this MCP session is already initialized; send initialize without Mcp-Session-Id to start another');
      case 'ping':
        return json(client, { jsonrpc: '2.0', id: call.id, result: {} });
      case 'logging/setLevel':
        client.logLevel = String(call.params?.level ?? 'info');
        return json(client, { jsonrpc: '2.0', id: call.id, result: {} });
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = String(call.params?.uri ?? '');
        if (call.method === 'resources/subscribe') client.subscriptions.add(uri);
        else client.subscriptions.delete(uri);
        this.#relisten(client);
        return json(client, { jsonrpc: '2.0', id: call.id, result: {} });
      }
    }
    return this.#relay(client, call, request);
  }

  /** GET: the session's stream of list changes and resource updates. */
  get(request: Request, params: Params): Response {
    const client = this.#client(request.headers.get('mcp-session-id'), params);
    client.getStream?.close();
    const out = new SseOut(() => {
      if (client.getStream === out) {
        client.getStream = undefined;
        client.listen?.abort();
      }
      clearInterval(keepAlive);
    });
    const keepAlive = setInterval(() => out.comment(), KEEP_ALIVE_MS);
    keepAlive.unref();
    client.getStream = out;
    this.#relisten(client);
    return new Response(out.stream, { status: 200, headers: { ...SSE_HEADERS, 'mcp-session-id': client.id } });
  }

  /** DELETE: the client is done; its session and sandbox end. */
  async delete(request: Request, params: Params): Promise<Response> {
    const client = this.#client(request.headers.get('mcp-session-id'), params);
    this.#forget(client);
    await this.#options.sessions.stop(client.id);
    return new Response(null, { status: 204 });
  }

  #client(mcpSession: string | null, params: Params): ClientSession {
    const client = mcpSession === null ? undefined : this.#clients.get(mcpSession);
    if (!client || client.runtime !== params.name) {
      throw new BerthError('session_not_found', 'Session not found: this Mcp-Session-Id is unknown or has ended; send initialize without it to start a new session');
    }
    return client;
  }

  #forget(client: ClientSession): void {
    this.#clients.delete(client.id);
    client.listen?.abort();
    client.getStream?.close();
    for (const controller of client.inFlight.values()) controller.abort();
  }

  async #initialize(request: Request, message: JsonRpcRequest, params: Params, url: URL): Promise<Response> {
    const runtime = params.name as string;
    const endpoint = url.searchParams.get('endpoint') ?? undefined;
    const id = sessionKey(request, params);
    const clientParams = message.params ?? {};
    const capabilities = (clientParams.capabilities ?? {}) as Record<string, unknown>;
    const discover = await this.#modernCall(
      { id, runtime, endpoint, capabilities, clientInfo: clientParams.clientInfo },
      { jsonrpc: '2.0', id: message.id, method: 'server/discover', params: {} },
      request.signal,
      () => {},
    );
    if (!discover.result) throw new BerthError('sandbox_failed', `runtime "${runtime}" did not describe itself: ${discover.error?.message ?? 'no result'}`);
    const init = initializeFromDiscover(discover.result, clientParams.protocolVersion);
    const previous = this.#clients.get(id);
    if (previous) this.#forget(previous);
    const client: ClientSession = {
      id,
      runtime,
      endpoint,
      protocolVersion: init.protocolVersion,
      capabilities,
      clientInfo: clientParams.clientInfo,
      serverCapabilities: init.capabilities,
      subscriptions: new Set(),
      asked: new Map(),
      inFlight: new Map(),
      nextAsk: 1,
    };
    this.#clients.set(id, client);
    return json(client, { jsonrpc: '2.0', id: message.id, result: init as unknown as Record<string, unknown> });
  }

  /**
   * A client request, relayed as 2026-07-28. The answer is always an SSE stream: progress and logs go on it as
   * they come, and so do berth's questions to the client when the server needs input.
   */
  #relay(client: ClientSession, call: JsonRpcRequest, request: Request): Response {
    const controller = new AbortController();
    request.signal.addEventListener('abort', () => controller.abort());
    const key = String(call.id);
    client.inFlight.set(key, controller);
    const out = new SseOut(() => controller.abort());
    void (async () => {
      let params: Record<string, unknown> = call.params ?? {};
      try {
        for (;;) {
          const response = await this.#modernCall(client, { ...call, params }, controller.signal, (note) => out.send(note));
          const result = response.result;
          if (!result || result.resultType !== 'input_required') {
            out.send(toLegacyResponse(response));
            break;
          }
          // The server needs input: ask the client, then send the request again with its answers.
          const inputResponses = await this.#ask(client, out, (result.inputRequests ?? {}) as Record<string, { method: string; params?: Record<string, unknown> }>, controller.signal);
          params = { ...(call.params ?? {}), inputResponses };
          if (typeof result.requestState === 'string') params.requestState = result.requestState;
        }
      } catch (error) {
        if (!controller.signal.aborted) {
          const err = toBerthError(error);
          out.send({ jsonrpc: '2.0', id: call.id, error: { code: err.rpcCode, message: err.message, data: { code: err.code } } });
        }
      } finally {
        client.inFlight.delete(key);
        out.close();
      }
    })();
    return new Response(out.stream, { status: 200, headers: { ...SSE_HEADERS, 'mcp-session-id': client.id } });
  }

  /** Sends each input request to the client as a real request and waits for all the answers. */
  #ask(client: ClientSession, out: SseOut, requests: Record<string, { method: string; params?: Record<string, unknown> }>, signal: AbortSignal): Promise<Record<string, unknown>> {
    const entries = Object.entries(requests);
    return new Promise((resolve, reject) => {
      const answers: Record<string, unknown> = {};
      let left = entries.length;
      const ids: string[] = [];
      const timer = setTimeout(() => fail(new BerthError('request_state_expired', 'the client did not answer the server\'s questions in time')), this.#options.inputTimeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        for (const id of ids) client.asked.delete(id);
        reject(error);
      };
      signal.addEventListener('abort', () => fail(new Error('aborted')));
      if (left === 0) {
        clearTimeout(timer);
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
            clearTimeout(timer);
            resolve(answers);
          }
        });
        out.send(input.params === undefined ? { jsonrpc: '2.0', id, method: input.method } : { jsonrpc: '2.0', id, method: input.method, params: input.params });
      }
    });
  }

  /** One 2026-07-28 exchange with the session's sandbox, on behalf of a legacy client. */
  async #modernCall(
    client: Pick<ClientSession, 'id' | 'runtime' | 'endpoint' | 'capabilities' | 'clientInfo'> & { logLevel?: string },
    call: JsonRpcRequest,
    signal: AbortSignal,
    onNotification: (message: JsonRpcMessage) => void,
  ): Promise<JsonRpcResponse> {
    const { runtimes, sessions } = this.#options;
    const resolved = runtimes.resolve(client.runtime, client.endpoint);
    const lease: Lease = await sessions.acquire(client.id, resolved.target);
    try {
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
        [SESSION_HEADER]: client.id,
      });
      const name = params.name ?? params.uri;
      if (typeof name === 'string') headers.set('mcp-name', /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(name) ? name : `=?base64?${Buffer.from(name).toString('base64')}?=`);
      const answer = await callChannel(lease, headers, JSON.stringify(body), signal);
      return await readAnswer(answer, onNotification);
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
    void this.#modernCall(client, listen, controller.signal, (note) => {
      if (!isNotification(note) || note.method === 'notifications/subscriptions/acknowledged') return;
      stream.send(withoutSubscriptionId(note));
    }).catch((error: unknown) => {
      if (!controller.signal.aborted) this.#options.logger.debug('legacy GET stream feed ended', { session: client.id, err: error });
    });
  }
}

function json(client: ClientSession, message: JsonRpcResponse): Response {
  return new Response(JSON.stringify(message), { status: 200, headers: { 'content-type': 'application/json', 'mcp-session-id': client.id } });
}

function toLegacyResponse(response: JsonRpcResponse): JsonRpcResponse {
  if (!response.result) return response;
  const result = { ...response.result };
  for (const field of MODERN_RESULT_FIELDS) delete result[field];
  return { ...response, result };
}

function withoutSubscriptionId(message: JsonRpcMessage): JsonRpcMessage {
  const params = 'params' in message ? message.params : undefined;
  const meta = params?._meta as Record<string, unknown> | undefined;
  if (!meta || !(META_SUBSCRIPTION_ID in meta)) return message;
  const { [META_SUBSCRIPTION_ID]: _id, ...rest } = meta;
  return { ...message, params: { ...params, _meta: rest } } as JsonRpcMessage;
}
