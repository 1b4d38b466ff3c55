import type { JsonRpcId } from '../../core/errors.ts';

/**
 * Calls on their way through berth, by session and the id their client gave them, so a client's
 * `notifications/cancelled` can stop one whatever the server's transport: berth ends the call's channel request,
 * which a Streamable HTTP server takes as cancellation and which the supervisor turns into `notifications/cancelled`
 * (with the id the server knows) for a stdio one. The notification itself never reaches the server, so a client
 * cannot cancel a call by an id that only means something inside the sandbox.
 */
export class InFlightCalls {
  readonly #calls = new Map<string, AbortController>();

  /** Registers a call; its signal aborts when the client goes away or cancels it. Call `done` once it is over. */
  track(sessionId: string, id: JsonRpcId, clientGone: AbortSignal): { signal: AbortSignal; done: () => void } {
    const key = keyOf(sessionId, id);
    const controller = new AbortController();
    this.#calls.set(key, controller);
    // A listener rather than AbortSignal.any, which registers every call with a FinalizationRegistry: on the hot path
    // that costs more than the call's own bookkeeping.
    const abort = (): void => controller.abort();
    if (clientGone.aborted) abort();
    else clientGone.addEventListener('abort', abort, { once: true });
    return {
      signal: controller.signal,
      done: () => {
        clientGone.removeEventListener('abort', abort);
        if (this.#calls.get(key) === controller) this.#calls.delete(key);
      },
    };
  }

  /** Cancels the session's call with this id; false when there is none in flight. */
  cancel(sessionId: string, id: unknown): boolean {
    if (typeof id !== 'string' && typeof id !== 'number') return false;
    const key = keyOf(sessionId, id);
    const controller = this.#calls.get(key);
    if (!controller) return false;
    this.#calls.delete(key);
    controller.abort();
    return true;
  }
}

function keyOf(sessionId: string, id: JsonRpcId): string {
  return `${sessionId} ${typeof id}:${String(id)}`;
}
