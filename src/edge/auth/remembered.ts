/** How long a remembered value and a remembered failure last, and the clock they are measured on. */
export interface RememberedOptions {
  ttlMs: number;
  /** A failure is the answer for this long, so a caller cannot make berth fetch again by asking again. */
  failureTtlMs: number;
  now?: () => number;
}

/**
 * A value berth fetches from elsewhere, remembered: one load at a time whoever asks, a success kept for `ttlMs`, a
 * failure kept for `failureTtlMs`. Once a value has been had, a failed reload serves the last one (an issuer's
 * document and keys change rarely; an outage should not lock every caller out).
 */
export class Remembered<T> {
  readonly #load: () => Promise<T>;
  readonly #options: RememberedOptions;
  readonly #now: () => number;
  #value: { value: T; at: number } | undefined;
  #failure: { error: unknown; at: number } | undefined;
  #pending: Promise<T> | undefined;
  #attemptAt = Number.NEGATIVE_INFINITY;

  constructor(load: () => Promise<T>, options: RememberedOptions) {
    this.#load = load;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The value; loaded when there is none fresh and no failure is remembered; rejects with the remembered failure. */
  get(): Promise<T> {
    if (this.#pending) return this.#pending;
    const now = this.#now();
    if (this.#value && now - this.#value.at < this.#options.ttlMs) return Promise.resolve(this.#value.value);
    if (this.#failure && now - this.#failure.at < this.#options.failureTtlMs) {
      return this.#value ? Promise.resolve(this.#value.value) : Promise.reject(this.#failure.error);
    }
    return this.#start();
  }

  /**
   * Loads again if the last attempt is at least `minIntervalMs` old and no failure is remembered, else undefined:
   * how a token signed with a key berth has not seen picks up a rotation without letting every such token fetch.
   */
  reload(minIntervalMs: number): Promise<T> | undefined {
    if (this.#pending) return this.#pending;
    const now = this.#now();
    if (now - this.#attemptAt < minIntervalMs) return undefined;
    if (this.#failure && now - this.#failure.at < this.#options.failureTtlMs) return undefined;
    return this.#start();
  }

  /** Seconds until a remembered failure is forgotten, for `Retry-After`; at least 1. */
  retryAfterSeconds(): number {
    const left = this.#failure ? this.#failure.at + this.#options.failureTtlMs - this.#now() : 0;
    return Math.max(1, Math.ceil(left / 1000));
  }

  #start(): Promise<T> {
    const at = this.#now();
    this.#attemptAt = at;
    const stale = this.#value;
    const attempt = this.#load().then(
      (value) => {
        this.#value = { value, at };
        this.#failure = undefined;
        return value;
      },
      (error: unknown) => {
        this.#failure = { error, at };
        if (stale) return stale.value;
        throw error;
      },
    );
    this.#pending = attempt;
    const settle = (): void => {
      if (this.#pending === attempt) this.#pending = undefined;
    };
    attempt.then(settle, settle);
    return attempt;
  }
}
