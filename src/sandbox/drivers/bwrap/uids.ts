import { BerthError } from '../../../core/errors.ts';

/**
 * Host uids for sandboxes: each live sandbox runs as its own uid, so even a process that got past its namespaces
 * would own nothing of any other sandbox. Released uids go back at the end of the queue, so a uid is reused as late
 * as possible.
 */
export class UidPool {
  readonly #free: number[] = [];
  readonly #used = new Set<number>();

  constructor(base: number, count: number) {
    for (let uid = base; uid < base + count; uid++) this.#free.push(uid);
  }

  take(): number {
    const uid = this.#free.shift();
    if (uid === undefined) {
      throw new BerthError('session_limit', 'every sandbox uid is in use; stop sessions or raise BERTH_SANDBOX_UID_COUNT', { retryAfter: 5 });
    }
    this.#used.add(uid);
    return uid;
  }

  release(uid: number): void {
    if (this.#used.delete(uid)) this.#free.push(uid);
  }
}
