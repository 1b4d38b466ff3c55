import type { Http1ServerRequest, Http1ServerResponse } from '../core/http1-server.ts';
import type { SessionClientLimits } from '../core/channel.ts';
import { decodeHeaderValue } from '../mcp/classify.ts';
import { replyError } from './reply.ts';

/**
 * The longest resource URI berth keeps for a listener. Real URIs are far shorter; every one kept is memory a client
 * chose to spend, for as long as its stream stays open.
 */
export const MAX_URI_CHARS = 8 * 1024;

/** The node setting that raises each cap, which the error at the cap names. */
const SETTINGS: Record<keyof SessionClientLimits, string> = {
  subscriptions: 'BERTH_SESSION_MAX_SUBSCRIPTIONS',
  listeners: 'BERTH_SESSION_MAX_LISTENERS',
  pendingInputs: 'BERTH_SESSION_MAX_PENDING_INPUT',
};

/** The message of a `limit_exceeded` error: which cap the session is at, and how to get past it. */
export function capReached(cap: keyof SessionClientLimits, max: number, what: string): string {
  return `this session would have more than ${max} ${what}, the most berth keeps for one session; end some first, or raise ${SETTINGS[cap]} on the berth node`;
}

export const LISTENERS = 'open subscriptions/listen streams';

/** The session's open `subscriptions/listen` streams, counted so that one past the cap is refused. */
export class ListenerSlots {
  readonly #max: number;
  #open = 0;

  constructor(max: number) {
    this.#max = max;
  }

  /** Why a new stream is refused, or undefined (and a slot taken until `whenDone` calls back) when it may open. */
  take(whenDone: (free: () => void) => void): string | undefined {
    if (this.#open >= this.#max) return capReached('listeners', this.#max, LISTENERS);
    this.#open++;
    let freed = false;
    whenDone(() => {
      if (freed) return;
      freed = true;
      this.#open--;
    });
    return undefined;
  }
}

/**
 * Caps the listen streams of a server whose requests pass through unread (a modern HTTP server): the edge has
 * checked that `Mcp-Method` names the body's method, so the header says which requests are listen streams.
 */
export function limitListeners(handler: (req: Http1ServerRequest, res: Http1ServerResponse) => void, slots: ListenerSlots) {
  return (req: Http1ServerRequest, res: Http1ServerResponse): void => {
    const method = req.headers['mcp-method'];
    if (typeof method !== 'string' || decodeHeaderValue(method) !== 'subscriptions/listen') {
      handler(req, res);
      return;
    }
    const refused = slots.take((free) => res.once('close', free));
    if (refused === undefined) {
      handler(req, res);
      return;
    }
    req.discard();
    replyError(res, 'limit_exceeded', refused);
  };
}
