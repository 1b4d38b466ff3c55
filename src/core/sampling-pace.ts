export interface SamplingPaceOptions {
  /** Between samples while the thing sampled is in use. */
  busyMs: number;
  /** Between samples once it has been quiet for `quietMs`. */
  idleMs: number;
  quietMs: number;
}

/**
 * Runs `sample` every `busyMs` while what it samples is in use (`active` says so), and every `idleMs` once it has
 * been quiet for `quietMs`: a thousand idle sandboxes then wake a few times a minute instead of a thousand times a
 * second, and a busy one is still seen within a second. Its timer never keeps the process alive.
 */
export class SamplingPace {
  readonly #sample: () => void;
  readonly #options: SamplingPaceOptions;
  #lastActive = Date.now();
  #dueAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(sample: () => void, options: SamplingPaceOptions) {
    this.#sample = sample;
    this.#options = options;
    this.#schedule();
  }

  /** What is sampled is in use now: sampling keeps, or returns to, the busy pace. */
  active(): void {
    const now = Date.now();
    this.#lastActive = now;
    if (!this.#stopped && this.#dueAt - now > this.#options.busyMs) this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    const now = Date.now();
    const delay = now - this.#lastActive >= this.#options.quietMs ? this.#options.idleMs : this.#options.busyMs;
    this.#dueAt = now + delay;
    this.#timer = setTimeout(() => {
      this.#sample();
      if (!this.#stopped) this.#schedule();
    }, delay);
    this.#timer.unref();
  }
}
