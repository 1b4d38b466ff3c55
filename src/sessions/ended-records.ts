import type { Logger } from '../observability/logger.ts';
import type { EndedSessionRecord, Store } from '../store/store.ts';
import type { EndedSession } from './session.ts';

/** How long the store keeps an ended session's record. */
const KEPT_MS = 7 * 24 * 3600_000;
/** How often records older than that are forgotten. */
const PRUNE_EVERY_MS = 3600_000;
/** Records waiting for the store, at most: past it (the store away a long while), later ends are not recorded. */
const MAX_PENDING = 1_000;
/** How long `close` waits for the records still waiting. */
const CLOSE_WAIT_MS = 5_000;

/**
 * The records of ended sessions in the store, where any node (and this one after a restart) finds them: each end
 * is written in the background, in the order the ends came, and a record is kept a week. A write the store does
 * not take costs a warning; the node goes on, and still answers from what it remembers itself. While the store is
 * away the records wait, a thousand at most, and a stopping node waits for them a few seconds, not for ever.
 */
export class EndedRecords {
  readonly #store: Store;
  readonly #logger: Logger;
  #writes: Promise<void> = Promise.resolve();
  #pending = 0;
  #dropping = false;
  readonly #prune: NodeJS.Timeout;

  constructor(store: Store, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
    this.#prune = setInterval(() => {
      void this.#store.pruneEndedSessions(new Date(Date.now() - KEPT_MS).toISOString()).catch(() => {});
    }, PRUNE_EVERY_MS);
    this.#prune.unref();
  }

  /** Records `ended`, after every end recorded before it. */
  keep(ended: EndedSession): void {
    if (this.#pending >= MAX_PENDING) {
      if (!this.#dropping)
        this.#logger.warn("the store has not taken ended sessions' records for a while: later ends go unrecorded until it does", { pending: this.#pending });
      this.#dropping = true;
      return;
    }
    this.#pending++;
    const record: EndedSessionRecord = { ...ended };
    this.#writes = this.#writes.then(async () => {
      try {
        await this.#store.putEndedSession(record);
        this.#dropping = false;
      } catch (error) {
        this.#logger.warn('could not keep the record of an ended session in the store', { session: ended.id, err: error });
      } finally {
        this.#pending--;
      }
    });
  }

  /** The record of session `id`'s last end, from the store. */
  async find(id: string): Promise<EndedSession | undefined> {
    return (await this.#store.getEndedSession(id)) as EndedSession | undefined;
  }

  /** Waits a few seconds at most for the records handed over so far to be written (or to fail), and stops pruning. */
  async close(): Promise<void> {
    clearInterval(this.#prune);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#writes, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }
}
