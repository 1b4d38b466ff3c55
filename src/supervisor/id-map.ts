import type { JsonRpcId, JsonRpcRequest } from '../mcp/jsonrpc.ts';

/**
 * Requests one peer keeps waiting on its server at once. A session's clients hold a few dozen at most; the bound
 * keeps clients that send calls faster than the server answers them from growing the supervisor, which shares the
 * sandbox's memory with the server, without end.
 */
export const MAX_PENDING_REQUESTS = 65_536;

/** One request sent to the server on a client's behalf, as the map keeps it until its answer. */
export interface Pending<T> {
  /** Where the peer delivers what belongs to the request. */
  readonly value: T;
  /** The id the client gave the request: its answer goes back under it. */
  readonly clientId: JsonRpcId;
  /** The progress token the client gave, if any: the server sees `berth-<id>` instead. */
  readonly clientToken?: string | number;
}

/** A request as the server is sent it. */
export interface Allocated {
  id: number;
  message: JsonRpcRequest;
}

/**
 * The ids a peer's server sees, mapped to the requests they stand for. The supervisor is its server's only client,
 * so the requests of all the session's clients share one id space: each gets a fresh number here, and its progress
 * token a fresh token, and both are mapped back on the way out. What a server sends is untrusted: an id or token
 * this map did not hand out, or one already answered, resolves to nothing.
 */
export class IdMap<T> {
  readonly #pending = new Map<number, Pending<T>>();
  readonly #byToken = new Map<string, number>();
  readonly #max: number;
  #nextId = 1;

  constructor(max = MAX_PENDING_REQUESTS) {
    this.#max = max;
  }

  /** Requests waiting on the server. */
  get size(): number {
    return this.#pending.size;
  }

  /** The bound `allocate` refuses past. */
  get max(): number {
    return this.#max;
  }

  /**
   * `message` renumbered for the server, with `value` kept for what comes back: a fresh id, and a fresh progress
   * token in place of the client's. Undefined, with nothing kept, when `max` requests already wait.
   */
  allocate(message: JsonRpcRequest, value: T): Allocated | undefined {
    if (this.#pending.size >= this.#max) return undefined;
    const id = this.#nextId++;
    let params = message.params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const token = meta?.progressToken;
    if (params && meta && (typeof token === 'string' || typeof token === 'number')) {
      const serverToken = `berth-${id}`;
      params = { ...params, _meta: { ...meta, progressToken: serverToken } };
      this.#pending.set(id, { value, clientId: message.id, clientToken: token });
      this.#byToken.set(serverToken, id);
    } else {
      this.#pending.set(id, { value, clientId: message.id });
    }
    return { id, message: params === undefined ? { ...message, id } : { ...message, id, params } };
  }

  /** The request the server's `id` names, still waiting; anything else (not a number, unknown, answered) is undefined. */
  get(id: unknown): Pending<T> | undefined {
    return typeof id === 'number' ? this.#pending.get(id) : undefined;
  }

  /** The waiting request whose progress the server reports under `token` (as it was sent: `berth-<id>`). */
  byToken(token: unknown): Pending<T> | undefined {
    const id = this.#byToken.get(String(token));
    return id === undefined ? undefined : this.#pending.get(id);
  }

  /** An answer's id resolved: the request it names, now forgotten; undefined when none waits under it. */
  take(id: unknown): Pending<T> | undefined {
    if (typeof id !== 'number') return undefined;
    const pending = this.#pending.get(id);
    if (pending) this.forget(id);
    return pending;
  }

  /** Forgets request `id`; false when it was not waiting. */
  forget(id: number): boolean {
    const pending = this.#pending.get(id);
    if (!pending) return false;
    this.#pending.delete(id);
    if (pending.clientToken !== undefined) this.#byToken.delete(`berth-${id}`);
    return true;
  }

  /** Every request still waiting, forgotten at once (the server is gone). */
  drain(): T[] {
    const values = [...this.#pending.values()].map((pending) => pending.value);
    this.#pending.clear();
    this.#byToken.clear();
    return values;
  }
}

/** Why a request was not sent: the peer's map is at its bound. */
export function tooManyPending(max: number): string {
  return `the server has ${max} requests of this session waiting, the most berth keeps; retry once some are answered`;
}
