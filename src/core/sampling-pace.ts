/** Due times this close count as the same: a timer due within it of a new one is kept. */
const SAME_DUE_MS = 20;

export interface SamplingPaceOptions {
  /** Between samples while the thing sampled is in use. */
  busyMs: number;
  /** How long the busy pace lasts after the last use. */
  quietMs: number;
  /** One last sample this long after the last use (what a use set off in the background shows by then); then none. */
  trailingMs: number;
}

/**
 * Runs `sample` every `busyMs` while what it samples is in use (`active`, `begin` say so) and for `quietMs` after,
 * once more `trailingMs` after the last use, and then not at all until it is used again: an idle sandbox costs no
 * wakeup, however many there are, and a busy one is still seen within a second. Its timer never keeps the process
 * alive.
 */
export class SamplingPace {
  readonly #sample: () => void;
  readonly #options: SamplingPaceOptions;
  #lastActive = Date.now();
  #lastSample = 0;
  /** Uses under way (`begin`), during which the pace stays busy however long they last. */
  #inUse = 0;
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

  /**
   * A use that lasts until the function returned is called (a call the sandbox is answering): the pace stays busy
   * meanwhile. At its end, a sample that is due is taken at once, while the process is awake anyway (else one a
   * second after the last), and the next waits for the trailing sample unless another use begins: a sandbox called
   * now and then is sampled with its calls rather than woken every second for a while after each.
   */
  begin(): () => void {
    this.#inUse++;
    this.active();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#inUse--;
      this.#lastActive = Date.now();
      if (this.#inUse > 0 || this.#stopped) return;
      const sinceSample = this.#lastActive - this.#lastSample;
      if (sinceSample >= this.#options.busyMs) {
        this.#lastSample = this.#lastActive;
        setImmediate(() => this.#take());
        this.#schedule();
      } else {
        // Sampled less than a second ago: once more a second after that sample, so the call's end is seen.
        this.#schedule(this.#options.busyMs - sinceSample);
      }
    };
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(after?: number): void {
    const now = Date.now();
    const { busyMs, quietMs, trailingMs } = this.#options;
    let delay = after;
    if (delay === undefined) {
      const trailingAt = this.#lastActive + trailingMs;
      if (this.#inUse > 0 || now - this.#lastActive < quietMs) delay = busyMs;
      else if (this.#lastSample < trailingAt) delay = Math.max(0, trailingAt - now);
      else {
        // Nothing more to see until the next use.
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#dueAt = Number.POSITIVE_INFINITY;
        return;
      }
    }
    // A call's end usually asks for the sample already due: the timer set for it stands (no timer churn per call).
    if (this.#timer !== undefined && this.#dueAt !== Number.POSITIVE_INFINITY && Math.abs(now + delay - this.#dueAt) < SAME_DUE_MS) return;
    clearTimeout(this.#timer);
    this.#dueAt = now + delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#take();
      if (!this.#stopped) this.#schedule();
    }, delay);
    this.#timer.unref();
  }

  #take(): void {
    if (this.#stopped) return;
    this.#lastSample = Date.now();
    this.#sample();
  }
}
