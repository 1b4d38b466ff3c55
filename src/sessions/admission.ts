import { BerthError } from '../core/errors.ts';

/** Why the node turned a new session (or a connection) away; the label of `berth_load_shed_total`. */
export type ShedReason = 'sessions' | 'start_queue_full' | 'start_queue_timeout' | 'memory' | 'connections';

export interface AdmissionOptions {
  /** Sandboxes that may be starting at once. */
  maxStarting: number;
  /** New sessions that may wait for a start slot; past it, refused at once. */
  startQueue: number;
  /** How long one waits for its slot before it is refused. */
  startQueueWaitMs: number;
  /** Memory the host keeps available; below it (counting the starts under way), new sessions are refused. */
  minFreeMemoryBytes: number;
  /** Memory new sandboxes can still have, read when a session asks (undefined: unknown, so not checked). */
  availableMemory: () => number | undefined;
  onShed?: (reason: ShedReason) => void;
}

/**
 * What a start is expected to take of the host's memory before the sandbox is counted in what the host reports: a
 * small Node server and berth's supervisor take ~25 MB; more for heavier servers.
 */
const START_MEMORY_ESTIMATE = 64 * 1024 * 1024;
/** How long a memory reading stands: a burst of new sessions reads /proc once, not once each. */
const MEMORY_READING_MS = 250;
const QUEUE_RETRY_AFTER_SECONDS = 2;
const MEMORY_RETRY_AFTER_SECONDS = 10;

interface Waiter {
  grant: () => void;
  timer: NodeJS.Timeout;
}

/**
 * Admission of new sandboxes: a node sheds load early, with a clear 503 and `Retry-After`, rather than starting
 * more sandboxes than its cores can boot before clients give up, or more than its memory holds. A few start at once;
 * more wait briefly in a bounded queue; none start while the host is short of memory.
 */
export class Admission {
  readonly #options: AdmissionOptions;
  #starting = 0;
  readonly #queue: Waiter[] = [];
  #reading: { at: number; bytes: number | undefined } = { at: 0, bytes: undefined };

  constructor(options: AdmissionOptions) {
    this.#options = options;
  }

  /** Sandboxes starting now, and new sessions waiting for their turn. */
  get load(): { starting: number; waiting: number } {
    return { starting: this.#starting, waiting: this.#queue.length };
  }

  /**
   * The memory the host has beyond the floor berth keeps free, less what the starts under way are expected to take;
   * undefined when the host's memory cannot be read.
   */
  spareMemory(): number | undefined {
    const available = this.#available();
    return available === undefined ? undefined : available - this.#starting * START_MEMORY_ESTIMATE - this.#options.minFreeMemoryBytes;
  }

  /** Refuses a new session at once when the host is already short of memory; cheap enough for every new session. */
  checkMemory(): void {
    const available = this.#available();
    if (available === undefined) return;
    const projected = available - this.#starting * START_MEMORY_ESTIMATE;
    if (projected >= this.#options.minFreeMemoryBytes) return;
    this.#options.onShed?.('memory');
    const mb = (bytes: number): number => Math.round(bytes / (1024 * 1024));
    throw new BerthError(
      'overloaded',
      `this berth node is short of memory (${mb(available)} MB available, ${mb(this.#options.minFreeMemoryBytes)} MB kept free by BERTH_MIN_FREE_MEMORY_MB), so it starts no new sessions; retry later or elsewhere`,
      { retryAfter: MEMORY_RETRY_AFTER_SECONDS },
    );
  }

  /** Runs `start` when a start slot is free; refused when the queue is full, the wait too long, or memory short. */
  async start<T>(start: () => Promise<T>): Promise<T> {
    await this.#enter();
    try {
      this.checkMemory();
      return await start();
    } finally {
      this.#leave();
    }
  }

  /**
   * Runs `start` in a start slot that is free now with no session waiting for one, for work that may wait (a warm
   * pool filling): undefined, and nothing run, when there is none. Such work never takes the last free slot.
   */
  startSpare<T>(start: () => Promise<T>): Promise<T> | undefined {
    // One slot is always left to sessions (unless there is only one, and it is free): a slow start of spare work
    // must not make a session wait its whole length.
    const spare = Math.max(1, this.#options.maxStarting - 1);
    if (this.#starting >= spare || this.#queue.length > 0) return undefined;
    this.#starting++;
    return start().finally(() => this.#leave());
  }

  #enter(): Promise<void> | undefined {
    if (this.#starting < this.#options.maxStarting) {
      this.#starting++;
      return undefined;
    }
    if (this.#queue.length >= this.#options.startQueue) {
      this.#options.onShed?.('start_queue_full');
      throw this.#busy(
        `${this.#options.maxStarting} sandboxes are starting and ${this.#queue.length} more sessions wait (BERTH_MAX_STARTING, BERTH_START_QUEUE)`,
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          this.#queue.splice(this.#queue.indexOf(waiter), 1);
          this.#options.onShed?.('start_queue_timeout');
          reject(this.#busy(`no sandbox start slot came free within ${this.#options.startQueueWaitMs} ms (BERTH_START_QUEUE_WAIT_MS)`));
        }, this.#options.startQueueWaitMs),
      };
      this.#queue.push(waiter);
    });
  }

  /** A finished start hands its slot straight to the next in line, so the count never dips between them. */
  #leave(): void {
    const next = this.#queue.shift();
    if (next) next.grant();
    else this.#starting--;
  }

  #busy(why: string): BerthError {
    return new BerthError('overloaded', `this berth node is starting as many new sessions as it can: ${why}; retry shortly`, {
      retryAfter: QUEUE_RETRY_AFTER_SECONDS,
    });
  }

  /** Reads the host's memory afresh at the next check (memory was just given back). */
  forgetMemoryReading(): void {
    this.#reading = { at: -Infinity, bytes: undefined };
  }

  #available(): number | undefined {
    const now = Date.now();
    if (now - this.#reading.at >= MEMORY_READING_MS) this.#reading = { at: now, bytes: this.#options.availableMemory() };
    return this.#reading.bytes;
  }
}
