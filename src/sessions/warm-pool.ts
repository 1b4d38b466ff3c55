import { randomId } from '../core/ids.ts';
import type { Logger } from '../observability/logger.ts';
import type { Sandbox, SandboxSpec } from '../sandbox/driver.ts';
import type { SessionTarget } from './session.ts';

export interface WarmPoolsOptions {
  /**
   * Starts a sandbox as a new session's would be, in a start slot no session waits for; undefined when none is free
   * now (the pool tries again shortly).
   */
  start: (spec: SandboxSpec) => Promise<Sandbox> | undefined;
  /** How many more sandboxes the node may hold now (its session cap, less its live sessions and pooled sandboxes). */
  room: () => number;
  /** Whether the host's memory leaves room for more pooled sandboxes beside what sessions may need; unset, it does. */
  mayGrow?: () => boolean;
  /** The spec a target's sandbox is started with, as a cold session's would be (its era as learned); unset, the target's. */
  specOf?: (target: SessionTarget) => SandboxSpec;
  /**
   * Readies a started sandbox's channel before it counts as ready (a connection opened and kept), so a session's
   * first request skips that; it never throws.
   */
  prime?: (sandbox: Sandbox) => Promise<void>;
  logger: Logger;
  /** How long a pool waits before it starts again after a start failed. */
  retryMs?: number;
}

interface Pool {
  target: SessionTarget;
  /** What the pool's sandboxes were started as: a session is handed one only if it would be started the same. */
  fingerprint: string;
  size: number;
  ready: Sandbox[];
  starting: number;
  /** Starts under way that are to stop once started: they gave way to sessions before they were ready. */
  excess: number;
  retired: boolean;
  /** Set while the pool waits: for a start slot, or after a failed start. */
  pause?: NodeJS.Timeout;
  /** How long the pool waits after its next failed start: doubled by each failure, reset by a success. */
  backoffMs: number;
}

const DEFAULT_RETRY_MS = 5_000;
/** The longest a pool waits after failed starts. */
const MAX_BACKOFF_MS = 5 * 60_000;
/** How long a pool waits, after handing a sandbox out, before it starts the next. */
const REFILL_DELAY_MS = 200;
/** How long a pool waits for a start slot to come free when sessions hold them all. */
const BUSY_RETRY_MS = 250;

/** Each target's fingerprint, made once: targets are kept per resolution, and asked on every new session. */
const fingerprints = new WeakMap<SessionTarget, string>();

/**
 * A target's version and everything its sandbox is started with (code, command, environment, limits): a runtime
 * deleted and made again under its name numbers its versions from 1 again, and must not get the old one's sandboxes.
 */
function fingerprintOf(target: SessionTarget): string {
  let fingerprint = fingerprints.get(target);
  if (fingerprint === undefined) {
    fingerprint = JSON.stringify([target.runtime, target.version, target.sandbox]);
    fingerprints.set(target, fingerprint);
  }
  return fingerprint;
}

/**
 * Warm pools: per runtime, sandboxes of its current version started ahead of any session, server and all, so that a
 * new session takes one that is ready rather than waiting for a start. A pooled sandbox is handed to one session
 * and never back: the pool starts another in its place. A runtime has one pool, of one version: a new version
 * replaces it, and the old version's sandboxes stop. Nothing of a session reaches a sandbox before it is handed
 * over (a request carries its session and user ids), so a pooled sandbox is as fresh as one started for the session.
 * Pools fill in start slots no session waits for, never past the node's session cap, and only while the host's memory
 * leaves a margin beyond what berth keeps free; inside that margin they give sandboxes up to sessions.
 */
export class WarmPools {
  readonly #options: WarmPoolsOptions;
  /** By runtime name. */
  readonly #pools = new Map<string, Pool>();
  #closed = false;

  constructor(options: WarmPoolsOptions) {
    this.#options = options;
  }

  /** Sandboxes ready in pools, all runtimes together. */
  get size(): number {
    let count = 0;
    for (const pool of this.#pools.values()) count += pool.ready.length + pool.starting - pool.excess;
    return count;
  }

  /** The runtime's pool: its size and how many of its sandboxes are ready, or undefined when it has none. */
  describe(runtime: string): { size: number; ready: number; version: number } | undefined {
    const pool = this.#pools.get(runtime);
    return pool && { size: pool.size, ready: pool.ready.length, version: pool.target.version };
  }

  /**
   * Keeps `size` sandboxes of `target` ready for its runtime: a pool of another version (or another start spec) is
   * retired and its sandboxes stopped; a size of 0 retires the runtime's pool.
   */
  set(target: SessionTarget, size: number): void {
    if (this.#closed) return;
    const current = this.#pools.get(target.runtime);
    const fingerprint = fingerprintOf(target);
    if (current && current.fingerprint === fingerprint) {
      current.size = size;
      if (size === 0) this.retire(target.runtime);
      else {
        // A smaller pool gives back what it holds beyond its new size.
        for (const sandbox of current.ready.splice(size)) void sandbox.stop().catch(() => {});
        this.#fill(current);
      }
      return;
    }
    if (current) this.retire(target.runtime);
    if (size <= 0) return;
    const retryMs = this.#options.retryMs ?? DEFAULT_RETRY_MS;
    const pool: Pool = { target, fingerprint, size, ready: [], starting: 0, excess: 0, retired: false, backoffMs: retryMs };
    this.#pools.set(target.runtime, pool);
    this.#fill(pool);
  }

  /** Ends the runtime's pool: its ready sandboxes stop, and those still starting stop once started. */
  retire(runtime: string): void {
    const pool = this.#pools.get(runtime);
    if (!pool) return;
    this.#pools.delete(runtime);
    pool.retired = true;
    clearTimeout(pool.pause);
    for (const sandbox of pool.ready.splice(0)) void sandbox.stop().catch(() => {});
  }

  /** The runtimes that have a pool. */
  runtimes(): string[] {
    return [...this.#pools.keys()];
  }

  /**
   * A ready sandbox of exactly `target`'s version, taken out of its pool for one new session (the pool starts
   * another), or undefined when none is ready.
   */
  take(target: SessionTarget): Sandbox | undefined {
    const pool = this.#pools.get(target.runtime);
    if (!pool || pool.fingerprint !== fingerprintOf(target)) return undefined;
    const sandbox = pool.ready.shift();
    // Taken or not, the pool fills again if it can: a moment later, so that the start of its next sandbox does not
    // take the CPU from the first requests of the session just handed one (and once that session is counted).
    setTimeout(() => this.#fill(pool), REFILL_DELAY_MS).unref();
    return sandbox;
  }

  /** Fills every pool that is short, as far as the node's room and memory allow (a session ended: room freed). */
  refill(): void {
    for (const pool of this.#pools.values()) this.#fill(pool);
  }

  /**
   * Gives up one pooled sandbox, to make room for a session that must start cold: a ready one (from the pool with
   * the most), answering its stop; else one still starting, which stops once started (answering at once). False
   * when the pools hold none.
   */
  shrink(): Promise<void> | false {
    let largest: Pool | undefined;
    for (const pool of this.#pools.values()) if (pool.ready.length > (largest?.ready.length ?? 0)) largest = pool;
    const sandbox = largest?.ready.pop();
    if (sandbox) return sandbox.stop().catch(() => {});
    for (const pool of this.#pools.values()) {
      if (pool.starting > pool.excess) {
        pool.excess++;
        return Promise.resolve();
      }
    }
    return false;
  }

  /** Stops every pooled sandbox; no pool fills again. */
  async close(): Promise<void> {
    this.#closed = true;
    const ready = [...this.#pools.values()].flatMap((pool) => pool.ready);
    for (const runtime of [...this.#pools.keys()]) this.retire(runtime);
    await Promise.all(ready.map((sandbox) => sandbox.exited.catch(() => undefined)));
  }

  #fill(pool: Pool): void {
    while (
      !pool.retired &&
      !this.#closed &&
      pool.pause === undefined &&
      pool.ready.length + pool.starting - pool.excess < pool.size &&
      this.#options.room() > 0 &&
      (this.#options.mayGrow?.() ?? true)
    ) {
      pool.starting++;
      void this.#startOne(pool);
    }
  }

  #pause(pool: Pool, ms: number): void {
    clearTimeout(pool.pause);
    pool.pause = setTimeout(() => {
      pool.pause = undefined;
      this.#fill(pool);
    }, ms);
    pool.pause.unref();
  }

  async #startOne(pool: Pool): Promise<void> {
    let sandbox: Sandbox;
    try {
      const spec = { ...(this.#options.specOf?.(pool.target) ?? { ...pool.target.sandbox, id: randomId('sbx') }), prime: true };
      const starting = this.#options.start(spec);
      if (starting === undefined) {
        // Start slots are the sessions' now: the pool waits its turn rather than queue in front of them.
        pool.starting--;
        if (!pool.retired && !this.#closed && pool.pause === undefined) this.#pause(pool, BUSY_RETRY_MS);
        return;
      }
      sandbox = await starting;
      await this.#options.prime?.(sandbox);
    } catch (error) {
      pool.starting--;
      if (pool.excess > 0) pool.excess--;
      if (pool.retired || this.#closed) return;
      // A start that fails (a server that crashes at start, the node out of memory) is tried again later, each
      // time later still: a pool must not spin on a server that cannot start.
      this.#options.logger.warn('a warm pool could not start a sandbox; it tries again later', {
        runtime: pool.target.runtime,
        retryInMs: pool.backoffMs,
        err: error,
      });
      this.#pause(pool, pool.backoffMs);
      pool.backoffMs = Math.min(MAX_BACKOFF_MS, pool.backoffMs * 2);
      return;
    }
    pool.starting--;
    pool.backoffMs = this.#options.retryMs ?? DEFAULT_RETRY_MS;
    if (pool.retired || this.#closed || pool.excess > 0) {
      if (pool.excess > 0) pool.excess--;
      void sandbox.stop().catch(() => {});
      return;
    }
    pool.ready.push(sandbox);
    // A pooled sandbox whose server dies is no longer ready: it leaves the pool, which starts another.
    void sandbox.closing.then(() => {
      const at = pool.ready.indexOf(sandbox);
      if (at === -1) return;
      pool.ready.splice(at, 1);
      this.#fill(pool);
    });
  }
}
