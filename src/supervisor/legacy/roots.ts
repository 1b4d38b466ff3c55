import type { JsonRpcId, JsonRpcRequest } from '../../mcp/jsonrpc.ts';
import type { LegacyPeer } from './peer.ts';

/** Roots questions berth keeps for a call to carry; past this many, the server's further ones are answered at once. */
const MAX_PARKED = 4;
/** How long berth waits on the server's answer to the `ping` after it was given roots. */
const PING_TIMEOUT_MS = 5_000;

/** A call of a client that declared roots, as the roots exchange drives it. */
export interface RootsCall {
  /** True once the call has ended: it carries nothing more. */
  readonly over: boolean;
  /** Gives the call a question of the server's, to ask its client; `attributed` false: the call did not cause it. */
  ask(request: JsonRpcRequest, attributed: boolean): void;
  /** Resolves once none of the call's questions waits on its client (or the call is over). */
  quiet(): Promise<void>;
}

interface Parked {
  request: JsonRpcRequest;
  timer: NodeJS.Timeout;
}

export interface ServerRootsOptions {
  peer: LegacyPeer;
  /** How long a roots question waits for a call to carry it, before berth answers it with no roots. */
  inputTimeoutMs: number;
  /** Resolves once the server has done what it does with what it was just sent. */
  settled: () => Promise<void>;
}

/**
 * The roots a legacy server holds, as berth relays them from the session's clients. A stateful-era server asks its
 * client for roots as session context — server-filesystem right after `notifications/initialized`, to learn which
 * directories it may touch — when no call is running, and 2026-07-28 gives berth no client to ask then. berth keeps
 * such a question (a few, for `inputTimeoutMs`) until a call comes whose client declares roots; that call asks its
 * client first, and reaches the server only once the server has the answer and has settled, so the server handles
 * the call with the client's roots. When the roots the server holds are no client's (berth answered for want of
 * one, the server gave up waiting, or a client said its roots changed) and the server has shown it uses roots, the
 * next such call tells it `notifications/roots/list_changed`, and carries the question the server asks then.
 *
 * A session's clients share one sandbox, and the roots a client gives are paths in it: berth does not ask again
 * only because a call comes from another client.
 */
export class ServerRoots {
  readonly #options: ServerRootsOptions;
  #parked: Parked[] = [];
  /** The server asked for roots in this legacy session, and has not since been told they changed without asking. */
  #asks = false;
  /** The roots the server holds are no client's. */
  #stale = true;
  /** Roots answers clients gave, so far: an exchange that raised it changed what the server holds. */
  #given = 0;
  /** The call that told the server its roots changed, and carries the question the server asks then. */
  #expecting: RootsCall | undefined;
  #exchange: Promise<void> | undefined;

  constructor(options: ServerRootsOptions) {
    this.#options = options;
  }

  /** A new legacy session: questions of the old one are gone with it, unanswered. */
  reset(): void {
    for (const parked of this.#parked) clearTimeout(parked.timer);
    this.#parked = [];
    this.#asks = false;
    this.#stale = true;
    this.#expecting = undefined;
  }

  /** The server asked for roots. */
  asked(): void {
    this.#asks = true;
  }

  /** A roots question got its answer: a client's roots, or berth's (none, or an error) for want of a client. */
  answered(byClient: boolean): void {
    this.#stale = !byClient;
    if (byClient) this.#given++;
  }

  /** A client said its roots changed (`notifications/roots/list_changed`). */
  changed(): void {
    this.#stale = true;
  }

  /**
   * A roots question no running call owns: the call expecting it takes it, or it waits for one. Past MAX_PARKED,
   * or after `inputTimeoutMs`, it is answered as by a client with no roots.
   */
  park(request: JsonRpcRequest): void {
    this.asked();
    const expecting = this.#expecting;
    if (expecting && !expecting.over) {
      expecting.ask(request, false);
      return;
    }
    if (this.#parked.length >= MAX_PARKED) {
      this.#answerNone(request);
      return;
    }
    const parked: Parked = {
      request,
      timer: setTimeout(() => {
        this.#parked = this.#parked.filter((other) => other !== parked);
        this.#answerNone(request);
      }, this.#options.inputTimeoutMs),
    };
    parked.timer.unref();
    this.#parked.push(parked);
  }

  /** The server cancelled its question `id`: if berth keeps it, nobody answers it now. */
  withdraw(id: JsonRpcId): void {
    const parked = this.#parked.find((one) => one.request.id === id);
    if (!parked) return;
    clearTimeout(parked.timer);
    this.#parked = this.#parked.filter((one) => one !== parked);
    this.#stale = true;
  }

  /**
   * What must happen before `call`, whose client declares roots, reaches the server: undefined when nothing (the
   * server has its client's roots, or does not use them); else a promise that settles once the server has them.
   * One exchange runs at a time; a call that comes meanwhile waits for it, then needs nothing more, or carries what
   * is left (the question of a call that ended before its client answered).
   */
  before(call: RootsCall): Promise<void> | undefined {
    if (this.#exchange === undefined && !this.#needed()) return undefined;
    return this.#queue(call);
  }

  #needed(): boolean {
    return this.#parked.length > 0 || (this.#stale && this.#asks);
  }

  async #queue(call: RootsCall): Promise<void> {
    while (this.#exchange !== undefined) await this.#exchange;
    if (call.over || !this.#needed()) return;
    const exchange = this.#run(call).finally(() => {
      if (this.#exchange === exchange) this.#exchange = undefined;
    });
    this.#exchange = exchange;
    await exchange;
  }

  async #run(call: RootsCall): Promise<void> {
    const given = this.#given;
    const parked = this.#parked;
    this.#parked = [];
    for (const one of parked) clearTimeout(one.timer);
    if (parked.length > 0) {
      for (const one of parked) call.ask(one.request, false);
    } else {
      // A server that does not ask when told is not told again until it asks on its own.
      this.#asks = false;
      this.#expecting = call;
      this.#options.peer.notify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
      await this.#options.settled();
      if (this.#expecting === call) this.#expecting = undefined;
    }
    await call.quiet();
    if (this.#given === given) return;
    // The server has read the answer once it answers a ping sent after it; it has acted on it once it settles.
    await this.#options.peer.call('ping', undefined, PING_TIMEOUT_MS).catch(() => undefined);
    await this.#options.settled();
  }

  #answerNone(request: JsonRpcRequest): void {
    this.answered(false);
    this.#options.peer.respond({ jsonrpc: '2.0', id: request.id, result: { roots: [] } });
  }
}
