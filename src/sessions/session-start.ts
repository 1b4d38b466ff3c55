import { BerthError } from '../core/errors.ts';
import { randomId } from '../core/ids.ts';
import type { Sandbox, SandboxDriver, SandboxSpec } from '../sandbox/driver.ts';
import type { Admission, ShedReason } from './admission.ts';
import type { Session, SessionPrincipal, SessionTarget } from './session.ts';
import type { WarmPools } from './warm-pool.ts';

export interface SessionStarterOptions {
  driver: SandboxDriver;
  /** Live sessions this node holds at most; a new one past it gets 429. */
  maxSessions: number;
  /** When a new session's sandbox may start: start slots, the queue for them, the memory floor. */
  admission: Admission;
  /** Hears a new session refused for the node's session cap (the admission's own refusals it reports itself). */
  onShed?: (reason: ShedReason) => void;
  /** Sandboxes started ahead of sessions: a new session takes a ready one of its version when there is one. */
  pools?: WarmPools;
}

const CAPACITY_RETRY_AFTER_SECONDS = 10;
/** Memory beyond the node's floor that pools leave to sessions: pools neither grow into it nor keep sandboxes in it. */
export const POOL_MEMORY_MARGIN = 512 * 1024 * 1024;
/** Soon enough for a client to find another node once the load balancer, told by `/healthz`, stops sending here. */
const DRAINING_RETRY_AFTER_SECONDS = 2;

/**
 * How a new session comes to be: the node's gates in the order they are cheap (draining, its session cap, the
 * admission's memory floor, then a start slot), and the sandbox's start. What it makes is the session's record, its
 * sandbox still starting; the manager holds it and hears how the start went.
 */
export class SessionStarter {
  readonly #options: SessionStarterOptions;
  /**
   * Runtime versions (`name@version`) whose server turned out to speak 2026-07-28. Sandboxes of a version whose
   * revision is `auto` ask their server (one `server/discover`); once one has answered, the next ones are told.
   */
  readonly #modernVersions = new Set<string>();
  #draining = false;

  constructor(options: SessionStarterOptions) {
    this.#options = options;
  }

  /** Whether the node drains before it stops: no new session starts. */
  get draining(): boolean {
    return this.#draining;
  }

  /** From now on a new session is refused with 503 `draining`. */
  drain(): void {
    this.#draining = true;
  }

  /** What a sandbox of `target` is started with, under a fresh id: the era the version's servers were found to speak. */
  specOf(target: SessionTarget): SandboxSpec {
    const era = target.sandbox.era === 'auto' && this.#modernVersions.has(`${target.runtime}@${target.version}`) ? 'modern' : target.sandbox.era;
    return { ...target.sandbox, era, id: randomId('sbx') };
  }

  /**
   * Only a server that answered `server/discover` is known to be modern; `legacy` is what a failed probe concludes,
   * which one slow or unlucky start must not fix for every later sandbox.
   */
  #learnEra(target: SessionTarget, sandbox: Sandbox): void {
    if (target.sandbox.era === 'auto' && sandbox.era === 'modern') this.#modernVersions.add(`${target.runtime}@${target.version}`);
  }

  /**
   * The record of a new session whose sandbox is starting, for a node that holds `live` sessions; refuses when the
   * node takes no more. `minted`: berth made the id, for a request that named no session.
   */
  start(id: string, target: SessionTarget, principal: SessionPrincipal, minted: boolean, live: number): Session {
    if (this.#draining) {
      throw new BerthError('draining', 'this berth node is shutting down and starts no new sessions; retry shortly, and another node will take the session', {
        retryAfter: DRAINING_RETRY_AFTER_SECONDS,
      });
    }
    if (live >= this.#options.maxSessions) {
      this.#options.onShed?.('sessions');
      throw new BerthError(
        'session_limit',
        `this berth node holds its maximum of ${this.#options.maxSessions} live sessions; retry later or stop idle sessions`,
        {
          retryAfter: CAPACITY_RETRY_AFTER_SECONDS,
        },
      );
    }
    const now = Date.now();
    const session = (sandboxId: string, ready: Promise<Sandbox>, pooled: boolean): Session => ({
      id,
      principal,
      target,
      sandboxId,
      state: 'starting',
      createdAt: now,
      lastActiveAt: now,
      inFlight: 0,
      unclaimed: minted,
      ready,
      pooled,
      requestCount: 0,
      requests: [],
    });
    // A pooled sandbox is ready now: no memory check or start slot is needed for what already runs.
    const pooled = this.#options.pools?.take(target);
    if (pooled) {
      this.#learnEra(target, pooled);
      return session(pooled.id, Promise.resolve(pooled), true);
    }
    // Sessions come before pools: a session that starts cold on a node at its cap, or short of memory, with pooled
    // sandboxes takes one's room, and starts once that sandbox has stopped (so its memory counts as free).
    const pools = this.#options.pools;
    const admission = this.#options.admission;
    const gaveWay =
      pools && (live + pools.size >= this.#options.maxSessions || (admission.spareMemory() ?? Infinity) < POOL_MEMORY_MARGIN) ? pools.shrink() : false;
    if (!gaveWay) admission.checkMemory();
    const spec = this.specOf(target);
    const launch = (): Promise<Sandbox> => admission.start(() => this.#options.driver.start(spec));
    const ready = gaveWay
      ? gaveWay.then(() => {
          admission.forgetMemoryReading();
          return launch();
        })
      : launch();
    ready.then(
      (sandbox) => this.#learnEra(target, sandbox),
      () => {
        // the manager hears the failure
      },
    );
    return session(spec.id, ready, false);
  }
}
