import type { SandboxExit } from '../sandbox/driver.ts';
import type { OutputLog } from '../sandbox/output-log.ts';
import type { EndedSession, EndReason, Session } from './session.ts';

/** Ended sessions remembered for inspection, unless the manager is told otherwise. */
const DEFAULT_HISTORY = 1000;
/** Ended sessions whose output is kept: each holds up to the node's log bound, so far fewer than their records. */
const ENDED_OUTPUT_KEPT = 64;

/**
 * What the node remembers of sessions that have ended: why and how each ended (`GET /v1/sessions/{id}` after the
 * end), and the output of the most recent ones (`/logs`). Both are bounded, oldest end forgotten first, so a node
 * that runs for months holds no more than a busy hour's worth.
 */
export class EndedSessions {
  readonly #records = new Map<string, EndedSession>();
  readonly #outputs = new Map<string, OutputLog>();
  readonly #historySize: number;

  constructor(historySize = DEFAULT_HISTORY) {
    this.#historySize = historySize;
  }

  /** Records the session's end, and keeps its sandbox's output if it had one. */
  add(session: Session, reason: EndReason, exit?: SandboxExit, error?: EndedSession['error']): EndedSession {
    const record: EndedSession = {
      id: session.id,
      runtime: session.target.runtime,
      version: session.target.version,
      principal: session.principal.userId,
      endedAt: new Date().toISOString(),
      reason,
      limits: session.sandbox?.limits() ?? [],
    };
    if (exit) record.exit = exit;
    if (error) record.error = error;
    keepNewest(this.#records, session.id, record, this.#historySize);
    if (session.sandbox) this.keepOutput(session.id, session.sandbox.output);
    return record;
  }

  /** Keeps an ended session's output for `logs`; a sandbox that failed to start leaves its output this way. */
  keepOutput(id: string, output: OutputLog): void {
    keepNewest(this.#outputs, id, output, ENDED_OUTPUT_KEPT);
  }

  get(id: string): EndedSession | undefined {
    return this.#records.get(id);
  }

  output(id: string): OutputLog | undefined {
    return this.#outputs.get(id);
  }
}

/** Sets `key` as the newest entry of `map` (a Map iterates in insertion order) and forgets the oldest past `limit`. */
function keepNewest<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > limit) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
}
