import { setTimeout as sleep } from 'node:timers/promises';

/** What a drain needs of the session manager. */
export interface Drainable {
  drain(): void;
  /** Live sessions with work under way. */
  readonly working: number;
}

/** How often a drain looks again: a shutdown is rare, and a look costs one pass over the live sessions. */
const LOOK_EVERY_MS = 50;

/**
 * Drains a node's sessions before it stops: no new session starts, and the work its sessions have under way (calls
 * in flight, calls waiting on their clients, busy agents) gets up to `graceMs` to finish. Resolves true once none is
 * left, false when the grace ran out first. It looks rather than listens, so the session manager needs no second set
 * of activity hooks for a thing that happens once in a node's life.
 */
export async function drainSessions(sessions: Drainable, graceMs: number): Promise<boolean> {
  sessions.drain();
  const deadline = Date.now() + graceMs;
  while (sessions.working > 0) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(LOOK_EVERY_MS, left));
  }
  return true;
}
