import { BerthError } from '../core/errors.ts';
import type { RateLimit, RuntimeRateLimits } from '../store/store.ts';

/** Buckets not touched for this long are full again, and forgotten. */
const IDLE_FORGET_MS = 10 * 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per runtime and per principal of a runtime, on this node: a request takes one token from each
 * bucket its runtime limits; an empty bucket answers 429 with `Retry-After` (the seconds until a token is back).
 * Each bucket holds `burst` tokens (default: one second's worth) and refills at `perSecond`.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
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
    const buckets = checks.map(([key, limit]) => this.#refilled(key, limit, now));
    for (const [i, bucket] of buckets.entries()) {
      if (bucket.tokens >= 1) continue;
      const [, limit, message] = checks[i] as [string, RateLimit, string];
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond));
      throw new BerthError('rate_limited', `${message}; retry after ${retryAfter} s`, { retryAfter });
    }
    for (const bucket of buckets) bucket.tokens -= 1;
  }

  #refilled(key: string, limit: RateLimit, now: number): Bucket {
    const burst = limit.burst ?? Math.max(1, limit.perSecond);
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tokens: burst, at: now };
      this.#buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
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
