import { BerthError } from '../core/errors.ts';
import type { RateLimit, RuntimeRateLimits } from '../store/store.ts';

/** Buckets not touched for this long are full again, and forgotten. */
const IDLE_FORGET_MS = 10 * 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * This node's share of each limit: 1 on a node alone; in a cluster, its part of the cluster's demand for the
 * limit's key (cluster/rate-shares.ts). Told of every request that asks for a key's token, admitted or not.
 */
export interface RateShares {
  share(key: string): number;
  demanded(key: string): void;
}

const WHOLE: RateShares = { share: () => 1, demanded: () => {} };

/**
 * Token buckets per runtime and per principal of a runtime: a request takes one token from each bucket its runtime
 * limits; an empty bucket answers 429 with `Retry-After` (the seconds until a token is back). Each bucket holds
 * `burst` tokens (default: one second's worth) and refills at `perSecond`, times this node's share of the limit
 * (`shares`), so that the nodes of a cluster hold the limit together. A bucket holds at least one token, so a node
 * whose share is small still admits a first request, and so learns that it has demand.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #shares: RateShares;
  #lastSweep = 0;

  constructor(now: () => number = Date.now, shares: RateShares = WHOLE) {
    this.#now = now;
    this.#shares = shares;
  }

  /** Counts one request of `principal` to `runtime`, or throws `rate_limited` without counting it anywhere. */
  take(runtime: string, limits: RuntimeRateLimits | undefined, principal: string): void {
    if (!limits) return;
    const now = this.#now();
    this.#sweep(now);
    const checks: Array<[string, RateLimit, string]> = [];
    if (limits.runtime) checks.push([`r\0${runtime}`, limits.runtime, `runtime "${runtime}" takes at most ${limits.runtime.perSecond} requests a second`]);
    if (limits.principal)
      checks.push([
        `p\0${runtime}\0${principal}`,
        limits.principal,
        `runtime "${runtime}" takes at most ${limits.principal.perSecond} requests a second from each caller`,
      ]);
    const buckets = checks.map(([key, limit]) => {
      this.#shares.demanded(key);
      return this.#refilled(key, limit, now);
    });
    for (const [i, bucket] of buckets.entries()) {
      if (bucket.tokens >= 1) continue;
      const [, limit, message] = checks[i] as [string, RateLimit, string];
      // The cluster's rate, not this node's share of it: the retry may land on any node.
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond));
      throw new BerthError('rate_limited', `${message}; retry after ${retryAfter} s`, { retryAfter });
    }
    for (const bucket of buckets) bucket.tokens -= 1;
  }

  #refilled(key: string, limit: RateLimit, now: number): Bucket {
    const share = this.#shares.share(key);
    const burst = Math.max(1, (limit.burst ?? Math.max(1, limit.perSecond)) * share);
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tokens: burst, at: now };
      this.#buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond * share);
    bucket.at = now;
    return bucket;
  }

  /** Forgets idle buckets now and then, so callers that come once do not accumulate. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < IDLE_FORGET_MS) return;
    this.#lastSweep = now;
    for (const [key, bucket] of this.#buckets) if (now - bucket.at > IDLE_FORGET_MS) this.#buckets.delete(key);
  }
}
