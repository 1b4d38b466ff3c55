import type { Readable, Writable } from 'node:stream';
import { RPC } from '../core/rpc-codes.ts';
import { META_SUBSCRIPTION_ID } from '../mcp/classify.ts';
import {
  isNotification,
  isRequest,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../mcp/jsonrpc.ts';
import { IdMap, tooManyPending } from './id-map.ts';
import { idOfCutMessage, MAX_SERVER_MESSAGE_BYTES, parseServerMessage, splitServerLines, type ReadBudget } from './server-messages.ts';
import type { ServerExit } from './server-process.ts';

/**
 * What a server may leave unread on its stdin before its next request is refused: berth holds the rest in its memory
 * (berth's own, where the server is hosted), so a server that stops reading must not make it hold without bound.
 */
export const MAX_UNREAD_STDIN_BYTES = 16 * 1024 * 1024;

/** Where the peer delivers what belongs to one request it sent. */
export interface PeerCall {
  /** A notification naming this request: progress (token restored), or a listen-stream message. */
  onNotification(message: JsonRpcNotification): void;
  /** The server's answer, with the request's own id restored. */
  onResponse(message: JsonRpcResponse): void;
  /** The server ended a listen stream with `notifications/cancelled`. */
  onCancelledByServer?(): void;
  /**
   * The request failed before any answer: the server exited (`server_crashed`), its transport broke
   * (`sandbox_unavailable`), or its answer was one berth does not relay (`sandbox_failed`).
   */
  onFailure?(message: string, code?: PeerFailure): void;
}

/** Why a request sent to a server got no answer berth could relay, or was not sent (`limit_exceeded`). */
export type PeerFailure = 'server_crashed' | 'sandbox_unavailable' | 'sandbox_failed' | 'limit_exceeded';

/**
 * The supervisor's side of a stdio server: newline-delimited JSON-RPC over the server's stdin and stdout. The
 * supervisor is the server's only peer, so the requests of all its clients share one id space: an IdMap gives each
 * a fresh id, and its progress token a fresh token, both mapped back on the way out; listen-stream notifications are
 * matched by their subscription id, which is the request id. Everything else the server sends — its own requests,
 * log lines, list changes — goes to `onServerMessage`.
 */
export class StdioPeer {
  readonly #stdin: Writable;
  readonly #ids = new IdMap<PeerCall>();
  readonly #onServerMessage: (message: JsonRpcMessage) => void;
  readonly #onOutput: (line: string) => void;

  /**
   * `onOutput` hears what the server prints that is not JSON-RPC, and berth's own notes on messages it would not
   * relay (each prefixed `berth:`): both belong in the session's log.
   */
  constructor(
    stdin: Writable,
    stdout: Readable,
    onServerMessage: (message: JsonRpcMessage) => void,
    onOutput: (line: string) => void,
    { onFault, budget }: { onFault?: (error: unknown) => void; budget?: ReadBudget } = {},
  ) {
    this.#stdin = stdin;
    this.#onServerMessage = onServerMessage;
    this.#onOutput = onOutput;
    stdin.on('error', () => {});
    stdout.on('error', () => {});
    // Where the peer runs in berth's own process, a fault on the server's output must end that sandbox, not berth.
    const guarded = (work: () => void): void => {
      if (!onFault) return work();
      try {
        work();
      } catch (error) {
        onFault(error);
      }
    };
    splitServerLines(
      stdout,
      MAX_SERVER_MESSAGE_BYTES,
      {
        line: (line) => guarded(() => this.#fromLine(line)),
        overlong: (head, tail, bytes, over) =>
          guarded(() => {
            const why =
              over === 'size'
                ? `the server sent a message of ${bytes} bytes, over the ${MAX_SERVER_MESSAGE_BYTES} berth reads whole`
                : `the server sent a message of ${bytes} bytes or more while berth's servers' unread messages already held the ${budget?.bytes} bytes it sets aside for them`;
            this.#onOutput(`berth: ${why}; it was dropped`);
            const id = idOfCutMessage(head, tail);
            if (id !== undefined) this.#failCall(id, why);
          }),
      },
      budget,
    );
  }

  /**
   * Sends `message` (a client request) under a fresh id; returns that id, for `cancel`. At the map's bound the call
   * fails at once (`limit_exceeded`) and 0, which names no request, comes back; so it does (`sandbox_unavailable`)
   * while the server leaves more than MAX_UNREAD_STDIN_BYTES of what it was sent unread.
   */
  request(message: JsonRpcRequest, call: PeerCall): number {
    const unread = this.#stdin.writableLength;
    if (unread > MAX_UNREAD_STDIN_BYTES) {
      failCall(call, message.id, `the server has not read the ${unread} bytes already sent to it; try again once it does`, 'sandbox_unavailable');
      return 0;
    }
    const sent = this.#ids.allocate(message, call);
    if (!sent) {
      failCall(call, message.id, tooManyPending(this.#ids.max), 'limit_exceeded');
      return 0;
    }
    let line: string;
    try {
      line = `${JSON.stringify(sent.message)}\n`;
    } catch (error) {
      // A message that cannot be written leaves nothing behind.
      this.#ids.forget(sent.id);
      throw error;
    }
    this.#stdin.write(line);
    return sent.id;
  }

  /** Forgets a request and tells the server to stop working on it. */
  cancel(id: number, reason: string): void {
    if (!this.#ids.forget(id)) return;
    this.notify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } });
  }

  /** Forgets a request without telling the server (its answer no longer has anywhere to go). */
  forget(id: number): void {
    this.#ids.forget(id);
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
        this.#ids.forget(id);
        reject(new Error(`the server did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const request: JsonRpcRequest = params === undefined ? { jsonrpc: '2.0', id: 0, method } : { jsonrpc: '2.0', id: 0, method, params };
      id = this.request(request, {
        onNotification: () => {},
        onResponse: (response) => {
          clearTimeout(timer);
          resolve(response);
        },
        onFailure: (why) => {
          clearTimeout(timer);
          reject(new Error(why));
        },
      });
    });
  }

  /** Every request still waiting when the server exited. */
  drain(): PeerCall[] {
    return this.#ids.drain();
  }

  #write(message: JsonRpcMessage): void {
    this.#stdin.write(`${JSON.stringify(message)}\n`);
  }

  /** One line of the server's stdout. Whatever goes wrong with it costs that line alone; the session goes on. */
  #fromLine(line: string): void {
    if (line.trim() === '') return;
    const taken = parseServerMessage(line);
    if ('output' in taken) {
      this.#onOutput(taken.output);
      return;
    }
    if ('refused' in taken) {
      this.#onOutput(`berth: ${taken.refused}; it was dropped`);
      if (taken.request && taken.id !== undefined)
        this.respond({ jsonrpc: '2.0', id: taken.id, error: { code: RPC.INVALID_REQUEST, message: `berth: ${taken.refused}` } });
      else if (typeof taken.id === 'number') this.#failCall(taken.id, taken.refused);
      return;
    }
    try {
      this.#fromServer(taken.message);
    } catch (error) {
      this.#onOutput(`berth: a message from the server could not be handled and was dropped: ${(error as Error).message}`);
    }
  }

  /** Ends a request whose answer berth will not relay: its caller hears why. */
  #failCall(id: number, why: string): void {
    const entry = this.#ids.take(id);
    if (entry) failCall(entry.value, entry.clientId, why, 'sandbox_failed');
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
    const entry = this.#ids.take(message.id);
    if (!entry) return;
    const result = message.result ? restoreSubscriptionId(message.result, message.id, entry.clientId) : undefined;
    entry.value.onResponse(result ? { ...message, id: entry.clientId, result } : { ...message, id: entry.clientId });
  }

  #routeNotification(message: JsonRpcNotification): void {
    const params = message.params ?? {};
    if (message.method === 'notifications/progress') {
      const entry = this.#ids.byToken(params.progressToken);
      if (entry && entry.clientToken !== undefined) entry.value.onNotification({ ...message, params: { ...params, progressToken: entry.clientToken } });
      return;
    }
    const meta = params._meta as Record<string, unknown> | undefined;
    const subscription = meta?.[META_SUBSCRIPTION_ID];
    if (typeof subscription === 'number') {
      const entry = this.#ids.get(subscription);
      if (entry) entry.value.onNotification({ ...message, params: restoreSubscriptionId(params, subscription, entry.clientId) });
      return;
    }
    if (message.method === 'notifications/cancelled' && typeof params.requestId === 'number') {
      const entry = this.#ids.get(params.requestId);
      if (entry?.value.onCancelledByServer) {
        this.#ids.forget(params.requestId);
        entry.value.onCancelledByServer();
        return;
      }
    }
    this.#onServerMessage(message);
  }
}

/** Ends a call with `why`: through its failure path, or as berth's JSON-RPC error when it has none. */
function failCall(call: PeerCall, clientId: JsonRpcId, why: string, code: PeerFailure): void {
  if (call.onFailure) call.onFailure(why, code);
  else call.onResponse({ jsonrpc: '2.0', id: clientId, error: { code: RPC.INTERNAL_ERROR, message: `berth: ${why}` } });
}

function restoreSubscriptionId(value: Record<string, unknown>, id: JsonRpcId | null, clientId: JsonRpcId): Record<string, unknown> {
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
