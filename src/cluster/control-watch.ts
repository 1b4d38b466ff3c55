import type { Logger } from '../observability/logger.ts';
import { repeatEvery } from './repeat.ts';
import type { ClusterRecords } from '../store/cluster-records.ts';

/** How often a node asks whether the control plane changed: the longest another node's change goes unseen here. */
export const CONTROL_WATCH_MS = 1_000;

/**
 * What a node keeps in memory of the control plane (resolved runtime versions, verified API keys) so that a warm
 * call asks the store nothing, kept true across the cluster: every write to those records counts a change in the
 * store (a trigger), and each node asks for the count once a second, one row read, and drops what it kept when it
 * rose. A deploy, an endpoint moved or a key revoked through any node holds on every node within about a second; a
 * store that does not answer leaves each node with what it knows.
 */
export class ControlWatch {
  readonly #records: ClusterRecords;
  readonly #onChange: () => void;
  readonly #logger: Logger;
  #seen: number | undefined;
  #stop: (() => void) | undefined;

  constructor(records: ClusterRecords, onChange: () => void, logger: Logger) {
    this.#records = records;
    this.#onChange = onChange;
    this.#logger = logger;
  }

  async start(intervalMs = CONTROL_WATCH_MS): Promise<void> {
    this.#seen = await this.#records.controlChanges();
    this.#stop = repeatEvery(intervalMs, () => this.check());
  }

  /** Asks once; drops what the node keeps if the count moved. */
  async check(): Promise<void> {
    let count: number;
    try {
      count = await this.#records.controlChanges();
    } catch (error) {
      this.#logger.debug('could not ask the cluster store for control-plane changes; keeping what this node knows', { err: error });
      return;
    }
    if (count === this.#seen) return;
    this.#seen = count;
    this.#onChange();
  }

  stop(): void {
    this.#stop?.();
  }
}
