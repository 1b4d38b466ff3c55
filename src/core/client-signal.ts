/**
 * When a request's client goes away. The Node adapter's requests carry no `signal` of their own: a Request made
 * with one registers it with a FinalizationRegistry, which costs more on the hot path than the rest of the
 * request's bookkeeping. The adapter records its signal here instead, and whoever needs to know asks here.
 */
const signals = new WeakMap<Request, AbortSignal>();

/** Records that `signal` aborts when `request`'s client goes away before its answer is complete. */
export function withClientSignal<R extends Request>(request: R, signal: AbortSignal): R {
  signals.set(request, signal);
  return request;
}

/** Aborts when the request's client goes away before its answer is complete. */
export function clientSignal(request: Request): AbortSignal {
  return signals.get(request) ?? request.signal;
}
