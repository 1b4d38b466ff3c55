import type { Http1ServerRequest, Http1ServerResponse } from '../../core/http1-server.ts';
import { INPUT_CAPABLE_METHODS, META_LOG_LEVEL } from '../../mcp/classify.ts';
import {
  BRIDGE_CLIENT_CAPABILITIES,
  BERTH_CLIENT_INFO,
  discoverFromInitialize,
  logLevelPasses,
  moreVerbose,
  toLegacyParams,
  toModernError,
  toModernResult,
  type InitializeResult,
} from '../../mcp/legacy.ts';
import { isRequest, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import type { SessionClientLimits } from '../../core/channel.ts';
import { RPC } from '../../core/rpc-codes.ts';
import { capReached } from '../caps.ts';
import { serveClientMessage, type ResponseWriter, type SupervisorLog } from '../response-writer.ts';
import { BridgedCall } from './bridged-call.ts';
import type { LegacyPeer } from './peer.ts';
import { ServerRoots } from './roots.ts';
import { Subscriptions } from './subscriptions.ts';

const INIT_TIMEOUT_MS = 30_000;

export interface BridgeOptions {
  runtime: string;
  peer: LegacyPeer;
  /** Whether the transport says which call a server request belongs to (HTTP) or not (stdio). */
  attributesServerRequests: boolean;
  inputTimeoutMs: number;
  /** Told the number of calls whose clients owe answers, whenever it may have changed. */
  onActivity: (waiting: number) => void;
  /** What the bridge keeps for the session's clients, at most. */
  limits: SessionClientLimits;
  /** Where faults go that cost one message (the session's log). */
  log: SupervisorLog;
  /**
   * Resolves once the server has done what it does with what it was just sent (src/supervisor/legacy/settle.ts); a
   * bridge that cannot watch its server does not wait.
   */
  settled?: () => Promise<void>;
}

/**
 * The stateful bridge: serves 2026-07-28 requests from a server written for the stateful revisions. berth holds
 * the one legacy session with the server for the sandbox's life (it initializes with every capability it can
 * relay), answers `server/discover` from the server's `initialize` result, turns the server's questions during a
 * call into `input_required` rounds (BridgedCall), streams progress and logs on the call's own answer, and feeds
 * `subscriptions/listen` streams from the server's change notifications.
 */
export class LegacyBridge {
  readonly #options: BridgeOptions;
  readonly #calls = new Map<string, BridgedCall>();
  #init: InitializeResult | undefined;
  #serverLogLevel: string | undefined;
  #subscriptions: Subscriptions | undefined;
  readonly #roots: ServerRoots;
  readonly #settled: () => Promise<void>;

  constructor(options: BridgeOptions) {
    this.#options = options;
    this.#settled = options.settled ?? (() => Promise.resolve());
    this.#roots = new ServerRoots({ peer: options.peer, inputTimeoutMs: options.inputTimeoutMs, settled: this.#settled });
  }

  get init(): InitializeResult | undefined {
    return this.#init;
  }

  /** Calls whose clients owe answers. */
  get waitingCalls(): number {
    let waiting = 0;
    for (const call of this.#calls.values()) if (call.waiting) waiting++;
    return waiting;
  }

  /** `initialize` and `notifications/initialized`: the start of the legacy session. */
  async open(initialize: (params: Record<string, unknown>) => Promise<JsonRpcResponse>): Promise<InitializeResult> {
    // Opening again (the server lost its session): listen streams held subscriptions of the old session, which
    // are gone; ending them tells their clients to listen again. Requests wait for the new session meanwhile.
    this.#init = undefined;
    this.#subscriptions?.closeAll();
    this.#subscriptions = undefined;
    const response = await initialize({ protocolVersion: '2025-11-25', capabilities: BRIDGE_CLIENT_CAPABILITIES, clientInfo: BERTH_CLIENT_INFO });
    if (!response.result) throw new Error(`the server refused initialize: ${response.error?.message ?? 'no result'}`);
    const init = response.result as unknown as InitializeResult;
    this.#init = init;
    this.#serverLogLevel = undefined;
    this.#subscriptions = new Subscriptions(this.#options.peer, init.capabilities, this.#options.limits);
    this.#roots.reset();
    this.#options.peer.notify({ jsonrpc: '2.0', method: 'notifications/initialized' });
    // What a server asks at start (server-filesystem: its client's roots) is in before the first call, which then
    // carries it; a call sent first would find the server without them.
    await this.#settled();
    return init;
  }

  handle = (req: Http1ServerRequest, res: Http1ServerResponse): void => {
    serveClientMessage(req, res, this.#options.log, (writer, message) => this.#fromClient(writer, message));
  };

  /** What the server sends outside the answer to any one request. */
  fromServer = (message: JsonRpcMessage): void => {
    if (isRequest(message)) {
      this.#serverRequest(message);
      return;
    }
    if (!('method' in message)) return;
    const notification = message as JsonRpcNotification;
    if (notification.method === 'notifications/cancelled') {
      // The server gave up on a question of its own (its request timed out): nobody answers it now.
      const id = notification.params?.requestId;
      if (typeof id !== 'string' && typeof id !== 'number') return;
      this.#roots.withdraw(id);
      for (const call of this.#calls.values()) call.withdraw(id);
      return;
    }
    if (notification.method === 'notifications/message') {
      for (const call of this.#calls.values()) {
        if (call.logLevel !== undefined && logLevelPasses(notification.params?.level, call.logLevel)) call.notify(notification);
      }
      return;
    }
    this.#subscriptions?.deliver(notification);
  };

  /** The server died: every call in flight learns so, with `message`. */
  serverExited(message: string): void {
    for (const call of this.#calls.values()) call.onFailure(message, 'server_crashed');
    this.#subscriptions?.closeAll();
  }

  #fromClient(writer: ResponseWriter, message: JsonRpcMessage): void {
    const init = this.#init;
    if (!init) {
      writer.fail('sandbox_unavailable', `runtime "${this.#options.runtime}": its legacy session is being re-established; retry`);
      return;
    }
    if (!isRequest(message)) {
      // A client whose roots changed says so (the legacy facade passes a legacy client's word on); the server hears
      // it before the next call that can tell it the new ones. Nothing else a client notifies concerns the server.
      if ('method' in message && message.method === 'notifications/roots/list_changed') this.#roots.changed();
      writer.finishEmpty(202);
      return;
    }
    const params = message.params ?? {};
    if (typeof params.requestState === 'string') {
      const [callId = '', round = ''] = params.requestState.split('.');
      const call = this.#calls.get(callId);
      if (!call) {
        writer.fail(
          'request_state_expired',
          'the call this requestState continues is no longer waiting (it timed out, or its sandbox restarted); send the request again without inputResponses and requestState',
        );
        return;
      }
      call.resume(message, writer, Number(round));
      return;
    }
    this.#raiseLogLevel(params);
    switch (message.method) {
      case 'server/discover':
        writer.finish({ jsonrpc: '2.0', id: message.id, result: discoverFromInitialize(init) });
        return;
      case 'subscriptions/listen':
        this.#subscriptions?.listen(message, writer);
        return;
    }
    const legacy = toLegacyRequest(message);
    if (INPUT_CAPABLE_METHODS.has(message.method)) {
      const call = new BridgedCall(
        {
          peer: this.#options.peer,
          runtime: this.#options.runtime,
          init,
          inputTimeoutMs: this.#options.inputTimeoutMs,
          mayWait: () =>
            this.waitingCalls < this.#options.limits.pendingInputs
              ? undefined
              : capReached('pendingInputs', this.#options.limits.pendingInputs, "calls waiting on their clients' answers"),
          changed: () => this.#options.onActivity(this.waitingCalls),
          reroute: (request) => this.#serverRequest(request),
          ended: (done) => {
            this.#calls.delete(done.id);
            this.#options.onActivity(this.waitingCalls);
          },
          rootsAsked: () => this.#roots.asked(),
          rootsAnswered: (byClient) => this.#roots.answered(byClient),
        },
        message,
        writer,
      );
      this.#calls.set(call.id, call);
      // A call whose client declares roots gets the server its client's roots first, when the server needs them.
      const first = call.declaresRoots && this.waitingCalls < this.#options.limits.pendingInputs ? this.#roots.before(call) : undefined;
      if (first) void first.then(() => call.start(legacy));
      else call.start(legacy);
      return;
    }
    const logLevel = (message.params?._meta as Record<string, unknown> | undefined)?.[META_LOG_LEVEL];
    const id = this.#options.peer.request(legacy, {
      onNotification: (note) => {
        // Logs reach only requests that asked for them, at their level (2026-07-28 logging is per request).
        if (note.method === 'notifications/message' && (typeof logLevel !== 'string' || !logLevelPasses(note.params?.level, logLevel))) return;
        writer.notify(note);
      },
      onResponse: (response) =>
        writer.finish(
          response.error
            ? { jsonrpc: '2.0', id: response.id, error: toModernError(response.error) }
            : { jsonrpc: '2.0', id: response.id, result: toModernResult(message.method, response.result ?? {}, init.serverInfo) },
        ),
      onServerRequest: (request) => this.#serverRequest(request),
      onFailure: (why, code) => writer.fail(code ?? 'sandbox_unavailable', why),
    });
    writer.onAbandoned(() => this.#options.peer.cancel(id, 'the client disconnected'));
  }

  /**
   * A server request that no transport attributed to a call (stdio has no way to). It goes to the one call that is
   * running on the server. With several running it goes to the one started last — the usual shape is a long call
   * still working when a quick one asks something — and, being a guess, it never fails that call. With none
   * running, berth answers what it can: a pong; a roots question waits for a call whose client has roots (ServerRoots).
   */
  #serverRequest(request: JsonRpcRequest): void {
    if (request.method === 'ping') {
      this.#options.peer.respond({ jsonrpc: '2.0', id: request.id, result: {} });
      return;
    }
    let owner: BridgedCall | undefined;
    let running = 0;
    for (const call of this.#calls.values()) {
      // A call the server has not been sent cannot be what it asks about.
      if (!call.running || !call.sent) continue;
      running++;
      if (!owner || call.startedAt >= owner.startedAt) owner = call;
    }
    if (owner) {
      owner.ask(request, running === 1);
      return;
    }
    if (request.method === 'roots/list') {
      this.#roots.park(request);
      return;
    }
    this.#options.peer.respond({
      jsonrpc: '2.0',
      id: request.id,
      error: { code: RPC.METHOD_NOT_FOUND, message: `no client request is waiting that could answer ${request.method}` },
    });
  }

  /** Legacy servers log per session, not per request: make the server as verbose as the most verbose caller asks. */
  #raiseLogLevel(params: Record<string, unknown>): void {
    const meta = params._meta as Record<string, unknown> | undefined;
    const wanted = meta?.[META_LOG_LEVEL];
    if (typeof wanted !== 'string' || this.#init?.capabilities.logging === undefined) return;
    const level = moreVerbose(this.#serverLogLevel, wanted);
    if (level === this.#serverLogLevel) return;
    this.#serverLogLevel = level;
    void this.#options.peer.call('logging/setLevel', { level }, INIT_TIMEOUT_MS).catch(() => {});
  }
}

function toLegacyRequest(message: JsonRpcRequest): JsonRpcRequest {
  const params = toLegacyParams(message.params);
  return params === undefined ? { jsonrpc: '2.0', id: message.id, method: message.method } : { jsonrpc: '2.0', id: message.id, method: message.method, params };
}
