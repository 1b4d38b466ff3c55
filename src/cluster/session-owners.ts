import { BerthError } from '../core/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { NodeRecord } from '../store/cluster-records.ts';
import type { DirectoryEntry, Holding, SessionDirectoryRecords } from '../store/session-directory.ts';
import type { Membership } from './membership.ts';

/** Where a session's requests are served: on this node, or on the node at `url` holding it at `epoch`. */
export type SessionPlace = { here: true } | { here: false; url: string; epoch: number; owner: string };

/** Remote owners this node remembers, at most; the oldest is forgotten first. */
const REMEMBERED = 100_000;
/** How long a claim may stand with no sandbox behind it (a request that failed before its session started). */
const UNUSED_CLAIM_MS = 60_000;

export interface SessionOwnersOptions {
  directory: SessionDirectoryRecords;
  membership: Membership;
  logger: Logger;
  /** Whether a session's sandbox lives on this node. */
  isLive: (session: string) => boolean;
  unusedClaimMs?: number;
  /** Told of each session this node took over from a node that was lost: the entry as the lost node held it. */
  onLost?: (entry: DirectoryEntry) => void;
  /** Whether this node takes a new session now (not full, not draining); unset, it always does. */
  hasRoom?: () => boolean;
}

/** How a place is looked for. */
export interface PlaceOptions {
  /** Ask the directory, not what this node remembers (a request another node passed on). */
  fresh?: boolean;
  /** A new session is this node's even when it has no room: its own start refuses it, saying why. */
  hereOnly?: boolean;
}

/**
 * Which node serves each session, by the cluster's session directory, with what this node has seen of it kept in
 * memory: a warm call to a session held here, or to one whose owner is remembered, asks the store nothing. A session
 * nobody holds is claimed for this node; one whose owner's lease ran out is taken over, one epoch on (a fresh
 * sandbox, as AgentCore does); one a live node holds is that node's.
 */
export class SessionOwners {
  readonly #directory: SessionDirectoryRecords;
  readonly #membership: Membership;
  readonly #logger: Logger;
  /** The epoch of each session this node holds, and when it claimed it. */
  readonly #held = new Map<string, { epoch: number; at: number }>();
  readonly #isLive: (session: string) => boolean;
  readonly #sweep: NodeJS.Timeout;
  readonly #unusedClaimMs: number;
  readonly #remote = new Map<string, { url: string; epoch: number; owner: string }>();
  /** Releases under way: the session is not claimed again here until its old entry is gone. */
  readonly #releasing = new Map<string, Promise<unknown>>();

  readonly #onLost: ((entry: DirectoryEntry) => void) | undefined;
  readonly #hasRoom: (() => boolean) | undefined;

  constructor(options: SessionOwnersOptions) {
    this.#directory = options.directory;
    this.#membership = options.membership;
    this.#logger = options.logger;
    this.#isLive = options.isLive;
    this.#onLost = options.onLost;
    this.#hasRoom = options.hasRoom;
    // A claim whose request failed before its session started would name this node for nothing, for ever.
    this.#unusedClaimMs = options.unusedClaimMs ?? UNUSED_CLAIM_MS;
    this.#sweep = setInterval(() => this.#releaseUnused(), this.#unusedClaimMs);
    this.#sweep.unref();
  }

  #releaseUnused(): void {
    const before = performance.now() - this.#unusedClaimMs;
    for (const [session, { at }] of this.#held) if (at < before && !this.#isLive(session)) this.ended(session);
  }

  /** Stops the sweep of unused claims, and waits for the releases under way. */
  async close(): Promise<void> {
    clearInterval(this.#sweep);
    await Promise.allSettled(this.#releasing.values());
  }

  /** Whether this node takes new sessions now. */
  get hasRoom(): boolean {
    return this.#hasRoom?.() ?? true;
  }

  /**
   * The live member with the most room for new sessions, other than this node; undefined when none has any (or
   * the store does not say). Loads are as of each node's last renewal, a couple of seconds old at most.
   */
  async roomElsewhere(): Promise<{ id: string; url: string } | undefined> {
    // The view of the last renewal first; when it shows no room, the store's word now (a member may have joined).
    const found = mostRoom(await this.#membership.members(), this.#membership.id);
    if (found) return found;
    const now = await this.#membership.members(true).catch(() => []);
    return mostRoom(now, this.#membership.id);
  }

  /**
   * Where `session` is served. One nobody holds is claimed with `holding` for this node, or, when this node has no
   * room (and may place it elsewhere), for the live member with the most room.
   */
  async placeOf(session: string, holding: Holding, { fresh = false, hereOnly = false }: PlaceOptions = {}): Promise<SessionPlace> {
    await this.#releasing.get(session);
    if (this.#held.has(session)) {
      await this.#membership.confirm();
      if (this.#held.has(session)) return { here: true };
    }
    // A remembered owner this node has since seen die is looked up again (and its session taken over).
    const remembered = fresh ? undefined : this.#remote.get(session);
    if (remembered && this.#membership.isLive(remembered.owner)) return { here: false, ...remembered };
    const elsewhere = fresh || hereOnly || this.hasRoom ? undefined : await this.roomElsewhere();
    let entry = await this.#directory.claim(session, holding, elsewhere?.id ?? this.#membership.id);
    // Right after this node's own gap, a lapsed lease may be a live node's that has not renewed yet: its
    // sessions are left to it a little longer (they are passed on to it meanwhile).
    if (entry.owner !== this.#membership.id && !entry.ownerLive && this.#membership.judgesOthers) {
      const moved = await this.#directory.takeOver(session, entry, this.#membership.id, holding);
      if (moved.taken) {
        this.#logger.warn('took over a session whose node was lost: it starts afresh here', { session, from: entry.owner, epoch: moved.entry.epoch });
        this.#onLost?.(entry);
        entry = moved.entry;
      } else {
        entry = (await this.#directory.lookup(session)) ?? (await this.#directory.claim(session, holding, this.#membership.id));
      }
    }
    if (entry.owner === this.#membership.id) {
      if (this.#held.get(session)?.epoch !== entry.epoch) this.#held.set(session, { epoch: entry.epoch, at: performance.now() });
      this.#remote.delete(session);
      return { here: true };
    }
    return this.#remember(entry);
  }

  #remember(entry: DirectoryEntry): SessionPlace {
    if (entry.ownerUrl === undefined) {
      throw new BerthError('sandbox_unavailable', `session ${entry.session} is held by a node that is leaving the cluster; retry in a moment`, {
        retryAfter: 1,
      });
    }
    if (this.#remote.size >= REMEMBERED) this.#remote.delete(this.#remote.keys().next().value as string);
    const place = { url: entry.ownerUrl, epoch: entry.epoch, owner: entry.owner };
    this.#remote.set(entry.session, place);
    return { here: false, ...place };
  }

  /** Which other live node holds `session`, and where, by the directory (nothing is claimed); undefined when none does. */
  async holder(session: string): Promise<{ owner: string; url: string } | undefined> {
    const entry = await this.#directory.lookup(session);
    if (!entry || entry.owner === this.#membership.id || !entry.ownerLive || entry.ownerUrl === undefined) return undefined;
    return { owner: entry.owner, url: entry.ownerUrl };
  }

  /** The epoch this node holds `session` at, if it holds it. */
  heldEpoch(session: string): number | undefined {
    return this.#held.get(session)?.epoch;
  }

  /** Aborts once `place`'s node is seen to be no live member: a hop to it stops waiting. */
  lostSignal(owner: string): AbortSignal {
    return this.#membership.lostSignal(owner);
  }

  /** Forgets where `session` was seen, after its owner did not take a request for it. */
  forget(session: string): void {
    this.#remote.delete(session);
  }

  /** The session ended here: the directory no longer names this node for it. */
  ended(session: string): void {
    const epoch = this.#held.get(session)?.epoch;
    if (epoch === undefined) return;
    this.#held.delete(session);
    const releasing = this.#directory
      .release(session, this.#membership.id, epoch)
      .catch((error: unknown) => {
        // Left in the directory, the entry names this node until its lease ends or it releases on a later end.
        this.#logger.warn('could not release an ended session in the cluster store', { session, err: error });
      })
      .finally(() => {
        if (this.#releasing.get(session) === releasing) this.#releasing.delete(session);
      });
    this.#releasing.set(session, releasing);
  }

  /** This node was taken for dead: nothing it held is its own any more. Answers what it held. */
  expelled(): string[] {
    const held = [...this.#held.keys()];
    this.#held.clear();
    this.#remote.clear();
    return held;
  }
}

/** The live member other than `self` with the most sessions free, if any has one free. */
function mostRoom(members: readonly NodeRecord[], self: string): { id: string; url: string } | undefined {
  let best: NodeRecord | undefined;
  for (const node of members) {
    if (node.id === self || !node.leaseRunning || node.state !== 'live' || node.sessions >= node.capacity) continue;
    if (!best || node.capacity - node.sessions > best.capacity - best.sessions) best = node;
  }
  return best && { id: best.id, url: best.url };
}
