import { randomBytes } from 'node:crypto';
import { isBerthError } from '../core/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ClusterRecords, NodeLoad, NodeRecord } from '../store/cluster-records.ts';

export interface MembershipOptions {
  records: ClusterRecords;
  url: string;
  capacity: number;
  load: () => NodeLoad;
  logger: Logger;
  /** How long a lease runs unless renewed. */
  leaseMs?: number;
  /** How often it is renewed: several times a lease, so one slow renewal costs nothing. */
  renewMs?: number;
  /**
   * Told when this node learns it is no longer a member: it was taken for dead (its lease ran out, a frozen
   * process) and its sessions may be another node's now. Whatever it owned must end; it joins again as a new member.
   */
  onExpelled?: (why: string) => void;
}

export const DEFAULT_LEASE_MS = 10_000;
const DEFAULT_RENEW_MS = 2_000;

/**
 * This node's membership of its cluster: a row in the store with a lease it renews while it lives, its load
 * beside it. The store judges leases by its own clock; the node judges whether it still holds one by its own
 * monotonic clock, from when it last asked for one: a node that was frozen past its lease knows it, and asks again
 * before it serves what it owns (`confirm`). A store that does not answer costs nothing but a warning: no other node
 * can take anything over while the store is away.
 */
export class Membership {
  /** A fresh id each start: a node that comes back is a new member, owning nothing of its last life. */
  id = newNodeId();
  readonly #options: Required<Omit<MembershipOptions, 'onExpelled'>> & Pick<MembershipOptions, 'onExpelled'>;
  #timer: NodeJS.Timeout | undefined;
  /** When the last lease that the store granted was asked for, by the monotonic clock. */
  #askedAt = -Infinity;
  #renewing: Promise<void> | undefined;
  #storeAway = false;
  #left = false;
  #view = new Map<string, NodeRecord>();
  readonly #watches = new Map<string, AbortController>();
  /**
   * Since when this node has held its lease without a gap, by the monotonic clock. After a gap (the store away, or
   * the node frozen) every lease may have run out by the store's clock, live nodes' too, until they renew.
   */
  #steadySince = -Infinity;

  constructor(options: MembershipOptions) {
    this.#options = { leaseMs: DEFAULT_LEASE_MS, renewMs: DEFAULT_RENEW_MS, ...options };
  }

  get url(): string {
    return this.#options.url;
  }

  /** Joins the cluster and keeps the lease; rejects when the store cannot take the node in. */
  async start(): Promise<void> {
    await this.#join();
    this.#schedule();
  }

  async #join(): Promise<void> {
    const asked = performance.now();
    await this.#options.records.join({ id: this.id, url: this.#options.url, capacity: this.#options.capacity }, this.#options.leaseMs);
    this.#askedAt = asked;
    await this.#look();
  }

  /** Whether the lease this node was last granted still runs, by its own clock (no wait). */
  get holdsLease(): boolean {
    return performance.now() - this.#askedAt < this.#options.leaseMs;
  }

  /**
   * Makes sure this node is still a member before it serves what it owns: at once while its lease runs, else after
   * one renewal. A store that does not answer leaves the node serving (nobody can take over meanwhile).
   */
  async confirm(): Promise<void> {
    if (this.holdsLease) return;
    await this.#renew();
  }

  #schedule(): void {
    if (this.#left) return;
    this.#timer = setTimeout(() => {
      this.#renew()
        .catch((error: unknown) => this.#options.logger.error("could not renew this node's lease", { node: this.id, err: error }))
        .finally(() => this.#schedule());
    }, this.#options.renewMs);
    this.#timer.unref();
  }

  #renew(): Promise<void> {
    this.#renewing ??= this.#renewOnce().finally(() => (this.#renewing = undefined));
    return this.#renewing;
  }

  async #renewOnce(): Promise<void> {
    if (this.#left) return;
    const asked = performance.now();
    const frozen = asked - this.#askedAt >= this.#options.leaseMs;
    try {
      const member = await this.#options.records.renew(this.id, this.#options.leaseMs, this.#options.load());
      if (this.#storeAway) this.#options.logger.info('the cluster store answers again; this node renewed its lease');
      // A renewal after a gap begins a new steady spell, in which the others get a lease's time to renew too.
      if (this.#storeAway || frozen) this.#steadySince = performance.now();
      this.#storeAway = false;
      if (member) {
        this.#askedAt = asked;
        await this.#look();
        return;
      }
      const why = frozen
        ? `this node went ${Math.round((asked - this.#askedAt) / 1000)} s without renewing its lease (frozen or cut off), and the cluster took it for dead`
        : 'the cluster took this node for dead';
      this.#options.logger.error(`${why}: what it owned is another node's now; it joins again as a new member`, { node: this.id });
      this.#options.onExpelled?.(why);
      this.id = newNodeId();
      await this.#join();
    } catch (error) {
      if (!isBerthError(error) || error.code !== 'store_unavailable') throw error;
      if (!this.#storeAway)
        this.#options.logger.warn('the cluster store does not answer: this node keeps serving its sessions, and starts none', { err: error });
      this.#storeAway = true;
    }
  }

  /**
   * Refreshes this node's view of the members: which are live, and their load. A member that is no longer live
   * (its lease ran out, or it left) aborts the hops waiting on it.
   */
  async #look(): Promise<void> {
    const members = await this.#options.records.nodes();
    this.#view = new Map(members.map((node) => [node.id, node]));
    if (!this.judgesOthers) return;
    for (const [id, watch] of this.#watches) {
      if (this.#view.get(id)?.leaseRunning) continue;
      watch.abort(new Error(`node ${id} is no longer a live member of the cluster`));
      this.#watches.delete(id);
    }
  }

  /**
   * The members with their load, as of this node's last renewal (a couple of seconds old at most), or as the store
   * says now (`fresh`).
   */
  async members(fresh = false): Promise<NodeRecord[]> {
    if (fresh) await this.#look();
    return [...this.#view.values()];
  }

  /** How many members are live, by this node's view (itself at least). */
  get liveCount(): number {
    let live = 0;
    for (const node of this.#view.values()) if (node.leaseRunning) live++;
    return Math.max(1, live);
  }

  /**
   * Whether this node may take another for dead when the store says its lease ran out: not until this node has
   * held its own lease without a gap for a whole lease. After the store was away every lease lapsed by the store's
   * clock, the live nodes' too; they renew within a lease of its return, and only then does a lapse mean death.
   */
  get judgesOthers(): boolean {
    return !this.#storeAway && this.holdsLease && performance.now() - this.#steadySince >= this.#options.leaseMs;
  }

  /**
   * Whether `id` is a live member by this node's view; a node not yet in the view (it joined since) counts as live,
   * and so does every node while this one does not judge others. The store decides takeovers; this only spares a
   * request a hop to a node already known to be gone.
   */
  isLive(id: string): boolean {
    return !this.judgesOthers || (this.#view.get(id)?.leaseRunning ?? true);
  }

  /** Aborts once node `id` is seen to be no live member: whatever waits on it stops waiting. */
  lostSignal(id: string): AbortSignal {
    let watch = this.#watches.get(id);
    if (!watch) {
      watch = new AbortController();
      if (this.isLive(id)) this.#watches.set(id, watch);
      else watch.abort(new Error(`node ${id} is no longer a live member of the cluster`));
    }
    return watch.signal;
  }

  /** Whether the store answered the last renewal. */
  get storeAway(): boolean {
    return this.#storeAway;
  }

  /** Leaves the cluster: the lease stops, the row goes. */
  async leave(): Promise<void> {
    this.#left = true;
    clearTimeout(this.#timer);
    await this.#renewing?.catch(() => {});
    await this.#options.records.leave(this.id).catch((error: unknown) => {
      this.#options.logger.warn('could not leave the cluster store; the lease runs out by itself', { err: error });
    });
  }
}

function newNodeId(): string {
  return `node_${randomBytes(8).toString('hex')}`;
}
