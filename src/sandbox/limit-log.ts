import type { LimitEvent, LimitName, LimitRecord } from './driver.ts';

/** Events of one limit closer together than this are one episode (a CPU-bound loop is throttled every second). */
const EPISODE_GAP_MS = 10_000;

/**
 * What a sandbox has run into, one record per limit, and who wants to hear of it. Listeners hear each new episode
 * of a limit, not every sample of one still going on, so logs say it once.
 */
export class LimitLog {
  readonly #records = new Map<LimitName, LimitRecord>();
  readonly #listeners: Array<(event: LimitEvent) => void> = [];

  add(event: LimitEvent): void {
    const now = new Date();
    const known = this.#records.get(event.limit);
    this.#records.set(event.limit, { ...event, firstAt: known?.firstAt ?? now.toISOString(), lastAt: now.toISOString(), count: (known?.count ?? 0) + 1 });
    if (known && now.getTime() - Date.parse(known.lastAt) < EPISODE_GAP_MS) return;
    for (const listener of this.#listeners) listener(event);
  }

  list(): LimitRecord[] {
    return [...this.#records.values()];
  }

  listen(listener: (event: LimitEvent) => void): void {
    this.#listeners.push(listener);
  }
}
