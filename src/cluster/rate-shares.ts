import type { Logger } from '../observability/logger.ts';
import { repeatEvery } from './repeat.ts';
import type { ClusterRecords } from '../store/cluster-records.ts';

/** How often a node tells the cluster its demand and takes its shares anew. */
export const SHARE_EVERY_MS = 1_000;

/**
 * This node's share of each rate limit in a cluster, by demand: every second each node records, per limit's key,
 * how many requests a second asked for a token here (admitted or not), and takes as its share its part of the
 * live nodes' summed demand. Buckets refill at the limit times the share, so the cluster as a whole admits the
 * limit, wherever a balancer sends the requests, and no request waits on the store.
 *
 * How exact: with demand steady for a second or more, the nodes' shares sum to one and the cluster admits the
 * limit, plus at most one token per node (a bucket always holds one, so a node new to a key admits a first request
 * and learns it has demand). When demand moves between nodes, shares follow within a second or two: meanwhile a
 * node that gained demand admits less than its due, never more. A key no node has reported yet gets an equal share
 * per live node. A store that does not answer leaves each node on the shares it last took.
 */
export class ClusterRateShares {
  readonly #records: ClusterRecords;
  readonly #nodeId: () => string;
  readonly #liveNodes: () => number;
  readonly #logger: Logger;
  #asked = new Map<string, number>();
  #since = performance.now();
  #shares = new Map<string, number>();
  #stop: (() => void) | undefined;

  constructor(records: ClusterRecords, nodeId: () => string, liveNodes: () => number, logger: Logger) {
    this.#records = records;
    this.#nodeId = nodeId;
    this.#liveNodes = liveNodes;
    this.#logger = logger;
  }

  share(key: string): number {
    return this.#shares.get(key) ?? 1 / Math.max(1, this.#liveNodes());
  }

  demanded(key: string): void {
    this.#asked.set(key, (this.#asked.get(key) ?? 0) + 1);
  }

  start(intervalMs = SHARE_EVERY_MS): void {
    this.#stop = repeatEvery(intervalMs, () => this.sync());
  }

  /** Reports the demand seen since the last report, and takes the shares it gives. */
  async sync(): Promise<void> {
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.#since) / 1000);
    const asked = this.#asked;
    this.#asked = new Map();
    this.#since = now;
    // A node with no rate-limited traffic, now or a moment ago, has nothing to tell and nothing to learn.
    if (asked.size === 0 && this.#shares.size === 0) return;
    const mine = new Map([...asked].map(([key, count]) => [key, count / seconds]));
    let totals: Map<string, number>;
    try {
      totals = await this.#records.shareDemand(this.#nodeId(), mine);
    } catch (error) {
      this.#logger.debug('could not share rate-limit demand with the cluster store; keeping the last shares', { err: error });
      return;
    }
    const shares = new Map<string, number>();
    for (const [key, total] of totals) {
      // A key with demand elsewhere and none here: this node's share is what is left after the others (none).
      if (total > 0) shares.set(key, Math.min(1, (mine.get(key) ?? 0) / total));
    }
    this.#shares = shares;
  }

  stop(): void {
    this.#stop?.();
  }
}
