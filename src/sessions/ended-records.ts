import type { Logger } from '../observability/logger.ts';
import type { EndedSessionRecord, Store } from '../store/store.ts';
import type { EndedSession } from './session.ts';

/** How long the store keeps an ended session's record. */
const KEPT_MS = 7 * 24 * 3600_000;
/** How often records older than that are forgotten. */
const PRUNE_EVERY_MS = 3600_000;

/**
 * The records of ended sessions in the store, where any node (and this one after a restart) finds them: each end
 * is written in the background, in the order the ends came, and a record is kept a week. A write the store does
 * not take costs a warning; the node goes on, and still answers from what it remembers itself.
 */
export class EndedRecords {
  readonly #store: Store;
  readonly #logger: Logger;
  #writes: Promise<void> = Promise.resolve();
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
    const record: EndedSessionRecord = { ...ended };
    this.#writes = this.#writes.then(() =>
      this.#store.putEndedSession(record).catch((error: unknown) => {
        this.#logger.warn('could not keep the record of an ended session in the store', { session: ended.id, err: error });
      }),
    );
  }

  /** The record of session `id`'s last end, from the store. */
  async find(id: string): Promise<EndedSession | undefined> {
    return (await this.#store.getEndedSession(id)) as EndedSession | undefined;
  }

  /** Waits for every record handed over so far to be written (or to have failed), and stops pruning. */
  async close(): Promise<void> {
    clearInterval(this.#prune);
    await this.#writes;
  }
}
