import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { META_SUBSCRIPTION_ID } from '../mcp/classify.ts';
import {
  asJsonRpcMessage,
  isNotification,
  isRequest,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../mcp/jsonrpc.ts';
import type { ServerExit } from './server-process.ts';

/** Where the peer delivers what belongs to one request it sent. */
export interface PeerCall {
  /** A notification naming this request: progress (token restored), or a listen-stream message. */
  onNotification(message: JsonRpcNotification): void;
  /** The server's answer, with the request's own id restored. */
  onResponse(message: JsonRpcResponse): void;
  /** The server ended a listen stream with `notifications/cancelled`. */
  onCancelledByServer?(): void;
}

interface Entry {
  call: PeerCall;
  clientId: JsonRpcId;
  clientToken?: string | number;
}

/**
 * The supervisor's side of a stdio server: newline-delimited JSON-RPC over the server's stdin and stdout. The
 * supervisor is the server's only peer, so the requests of all its clients share one id space: each gets a fresh
 * id here, and its progress token a fresh token, both mapped back on the way out; listen-stream notifications are
 * matched by their subscription id, which is the request id. Everything else the server sends — its own requests,
 * log lines, list changes — goes to `onServerMessage`.
 */
export class StdioPeer {
  readonly #stdin: Writable;
  readonly #entries = new Map<number, Entry>();
  readonly #byToken = new Map<string, number>();
  readonly #onServerMessage: (message: JsonRpcMessage) => void;
  #nextId = 1;

  constructor(stdin: Writable, stdout: Readable, onServerMessage: (message: JsonRpcMessage) => void, onOutput: (line: string) => void) {
    this.#stdin = stdin;
    this.#onServerMessage = onServerMessage;
    stdin.on('error', () => {});
    stdout.on('error', () => {});
    createInterface({ input: stdout, crlfDelay: Infinity }).on('line', (line) => {
      if (line.trim() === '') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        onOutput(line);
        return;
      }
      const message = asJsonRpcMessage(parsed);
      if (message) this.#fromServer(message);
      else onOutput(line);
    });
  }

  /** Sends `message` (a client request) under a fresh id; returns that id, for `cancel`. */
  request(message: JsonRpcRequest, call: PeerCall): number {
    const id = this.#nextId++;
    const entry: Entry = { call, clientId: message.id };
    let params = message.params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const token = meta?.progressToken;
    if (params && meta && (typeof token === 'string' || typeof token === 'number')) {
      entry.clientToken = token;
      const mine = `berth-${id}`;
      this.#byToken.set(mine, id);
      params = { ...params, _meta: { ...meta, progressToken: mine } };
    }
    this.#entries.set(id, entry);
    this.#write(params === undefined ? { ...message, id } : { ...message, id, params });
    return id;
  }

  /** Forgets a request and tells the server to stop working on it. */
  cancel(id: number, reason: string): void {
    if (!this.#forget(id)) return;
    this.notify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } });
  }

  /** Forgets a request without telling the server (its answer no longer has anywhere to go). */
  forget(id: number): void {
    this.#forget(id);
  }

  notify(message: JsonRpcNotification): void {
    this.#write(message);
  }

  /** Answers a request the server sent. */
  respond(message: JsonRpcResponse): void {
    this.#write(message);
  }

  /** A send that is an ordinary request of the supervisor itself (initialize, a probe, resources/subscribe). */
  call(method: string, params: Record<string, unknown> | undefined, timeoutMs: number): Promise<JsonRpcResponse> {
    return new Promise((resolve, reject) => {
      let id = 0;
      const timer = setTimeout(() => {
        this.#forget(id);
        reject(new Error(`the server did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const request: JsonRpcRequest = params === undefined ? { jsonrpc: '2.0', id: 0, method } : { jsonrpc: '2.0', id: 0, method, params };
      id = this.request(request, {
        onNotification: () => {},
        onResponse: (response) => {
          clearTimeout(timer);
          resolve(response);
        },
      });
    });
  }

  /** Every request still waiting when the server exited. */
  drain(): PeerCall[] {
    const calls = [...this.#entries.values()].map((entry) => entry.call);
    this.#entries.clear();
    this.#byToken.clear();
    return calls;
  }

  #forget(id: number): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    if (entry.clientToken !== undefined) this.#byToken.delete(`berth-${id}`);
    return true;
  }

  #write(message: JsonRpcMessage): void {
    this.#stdin.write(`${JSON.stringify(message)}\n`);
  }

  #fromServer(message: JsonRpcMessage): void {
    if (isRequest(message)) {
      this.#onServerMessage(message);
      return;
    }
    if (isNotification(message)) {
      this.#routeNotification(message);
      return;
    }
    const id = typeof message.id === 'number' ? message.id : Number.NaN;
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#forget(id);
    const result = message.result ? restoreSubscriptionId(message.result, id, entry.clientId) : undefined;
    entry.call.onResponse(result ? { ...message, id: entry.clientId, result } : { ...message, id: entry.clientId });
  }

  #routeNotification(message: JsonRpcNotification): void {
    const params = message.params ?? {};
    if (message.method === 'notifications/progress') {
      const id = this.#byToken.get(String(params.progressToken));
      const entry = id === undefined ? undefined : this.#entries.get(id);
      if (entry && entry.clientToken !== undefined) entry.call.onNotification({ ...message, params: { ...params, progressToken: entry.clientToken } });
      return;
    }
    const meta = params._meta as Record<string, unknown> | undefined;
    const subscription = meta?.[META_SUBSCRIPTION_ID];
    if (typeof subscription === 'number') {
      const entry = this.#entries.get(subscription);
      if (entry) entry.call.onNotification({ ...message, params: restoreSubscriptionId(params, subscription, entry.clientId) });
      return;
    }
    if (message.method === 'notifications/cancelled' && typeof params.requestId === 'number') {
      const entry = this.#entries.get(params.requestId);
      if (entry?.call.onCancelledByServer) {
        this.#forget(params.requestId);
        entry.call.onCancelledByServer();
        return;
      }
    }
    this.#onServerMessage(message);
  }
}

function restoreSubscriptionId(value: Record<string, unknown>, id: number, clientId: JsonRpcId): Record<string, unknown> {
  const meta = value._meta as Record<string, unknown> | undefined;
  if (meta?.[META_SUBSCRIPTION_ID] !== id) return value;
  return { ...value, _meta: { ...meta, [META_SUBSCRIPTION_ID]: clientId } };
}

/** Exit handling both stdio upstreams share: every waiting request learns the server is gone. */
export function failOnExit(peer: StdioPeer, exited: Promise<ServerExit>, fail: (call: PeerCall, exit: ServerExit) => void): void {
  void exited.then((exit) => {
    for (const call of peer.drain()) fail(call, exit);
  });
}
