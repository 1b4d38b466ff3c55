import { BerthError, isBerthError, toBerthError } from '../core/errors.ts';
import { randomId } from '../core/ids.ts';
import type { Logger } from '../observability/logger.ts';
import type { LimitEvent, LimitRecord, Sandbox, SandboxDriver, SandboxExit, SandboxSpec } from '../sandbox/driver.ts';
import type { OutputLine, OutputLog } from '../sandbox/output-log.ts';
import { SandboxStartError } from '../sandbox/start-error.ts';
import type { Admission, ShedReason } from './admission.ts';

/** What a session runs: one runtime version, how to start its sandbox, and its lifecycle. */
export interface SessionTarget {
  runtime: string;
  version: number;
  sandbox: Omit<SandboxSpec, 'id'>;
  idleTimeoutSeconds: number;
  maxLifetimeSeconds: number;
}

export type SessionState = 'starting' | 'ready' | 'stopping';

/** Who a session belongs to: `key` binds it (no other principal may use it); `userId` is what its server is told. */
export interface SessionPrincipal {
  key: string;
  userId: string;
}
/**
 * Why a session ended. `unclaimed`: berth made it for a request that named no session, and no later request came back
 * to it within the node's grace. `start-failed`: its sandbox never became ready (`error` says why).
 */
export type EndReason = 'stopped' | 'idle' | 'unclaimed' | 'lifetime' | 'sandbox-exit' | 'start-failed' | 'shutdown';

export interface SessionInfo {
  id: string;
  runtime: string;
  version: number;
  /** The user id of the principal the session belongs to (`anonymous` on a runtime without an authorizer). */
  principal: string;
  state: SessionState;
  createdAt: string;
  lastActiveAt: string;
  /** Requests in flight right now. */
  inFlight: number;
  /** Calls whose client owes answers to the server's questions (MRTR); the session is not idle while any do. */
  waitingForInput: number;
  /** An http agent whose `/ping` says `HealthyBusy` (background work); the session is not idle while it does. */
  busy: boolean;
  idleTimeoutSeconds: number;
  maxLifetimeSeconds: number;
  /** Made for a request that named no session, and no request has come back to it yet: it ends after a short grace. */
  unclaimed: boolean;
  sandboxId: string;
  /** The driver that made the sandbox. */
  driver: string;
  /** Host pid of the sandbox's outermost process. */
  pid?: number;
  memoryBytes?: number;
  /** The limits the session's sandbox has run into, once each: what it did (ended, throttled, refused), when, how often. */
  limits: LimitRecord[];
}

export interface EndedSession {
  id: string;
  runtime: string;
  version: number;
  principal: string;
  endedAt: string;
  reason: EndReason;
  exit?: SandboxExit;
  /** Why its sandbox did not start (reason `start-failed`): the error its first request got. */
  error?: { code: string; message: string };
  limits: LimitRecord[];
}

/** A claim on a session's sandbox for one request; `release` it when the request's answer is over. */
export interface Lease {
  readonly sessionId: string;
  readonly sandbox: Sandbox;
  /** Who the session belongs to, which is who this request is from. */
  readonly principal: SessionPrincipal;
  /** True when this request made the session. */
  readonly created: boolean;
  release(): void;
}

interface Session {
  id: string;
  principal: SessionPrincipal;
  target: SessionTarget;
  sandboxId: string;
  state: SessionState;
  createdAt: number;
  lastActiveAt: number;
  inFlight: number;
  /** See SessionInfo.unclaimed. */
  unclaimed: boolean;
  sandbox?: Sandbox;
  ready: Promise<Sandbox>;
  idleTimer?: NodeJS.Timeout;
  lifetimeTimer?: NodeJS.Timeout;
  ending?: Promise<void>;
}

export interface SessionManagerOptions {
  driver: SandboxDriver;
  logger: Logger;
  /** Live sessions this node holds at most; a new one past it gets 429. */
  maxSessions: number;
  /**
   * How long a session berth made for a request that named no session waits for a second request before it ends
   * (its idle timeout takes over once one comes): a client that keeps no session id never returns to it.
   */
  unclaimedTimeoutSeconds: number;
  /** When a new session's sandbox may start: start slots, the queue for them, the memory floor. */
  admission: Admission;
  /** Hears a new session refused for the node's session cap (the admission's own refusals it reports itself). */
  onShed?: (reason: ShedReason) => void;
  /** Ended sessions remembered for inspection. */
  historySize?: number;
  /**
   * Whether `principal` may make a session under `id` of `runtime`; a refused one answers as if it did not exist.
   * Ids that belong to someone (a principal's own session) are theirs to make alone.
   */
  mayCreate?: (id: string, runtime: string, principal: SessionPrincipal) => boolean;
}

const CAPACITY_RETRY_AFTER_SECONDS = 10;
/** Soon enough for a client to find another node once the load balancer, told by `/healthz`, stops sending here. */
const DRAINING_RETRY_AFTER_SECONDS = 2;
/** Ended sessions whose output is kept: each holds up to the node's log bound. */
const ENDED_OUTPUT_KEPT = 64;

/**
 * The session directory: session id → the one sandbox that holds its state. It creates sandboxes on first use
 * (concurrent first requests share one start), counts requests in flight, ends a session when it has been idle
 * (nothing in flight) for its idle timeout or has lived its maximum lifetime, and forgets a session whose sandbox
 * died, so its next request gets a fresh sandbox.
 */
export class SessionManager {
  readonly #options: SessionManagerOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #ended = new Map<string, EndedSession>();
  /** The output of the most recently ended sessions, which `logs` still shows. */
  readonly #endedOutput = new Map<string, OutputLog>();
  /**
   * Runtime versions (`name@version`) whose server turned out to speak 2026-07-28. Sandboxes of a version whose
   * revision is `auto` ask their server (one `server/discover`); once one has answered, the next ones are told.
   */
  readonly #modernVersions = new Set<string>();
  readonly #endListeners: Array<(ended: EndedSession) => void> = [];
  #closed = false;
  #draining = false;

  constructor(options: SessionManagerOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Whether the session is live (starting, ready or busy); cheap, unlike `get`. */
  has(sessionId: string): boolean {
    const session = this.#sessions.get(sessionId);
    return session !== undefined && session.state !== 'stopping';
  }

  /** Whether the node drains before it stops: no new session starts, live sessions go on serving until `close`. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Starts draining: from now on a request that would make a session gets 503 `draining`. */
  drain(): void {
    this.#draining = true;
  }

  /** Live sessions with work under way: starting, a request in flight, a call waiting on its client, an agent busy. */
  get working(): number {
    let count = 0;
    for (const session of this.#sessions.values()) if (session.state !== 'stopping' && !this.#quiet(session)) count++;
    return count;
  }

  /** Hears every session that ends, whatever the reason. */
  onEnd(listener: (ended: EndedSession) => void): void {
    this.#endListeners.push(listener);
  }

  /**
   * Claims the session's sandbox for one request, making the session (and its sandbox) when it has none, unless
   * `existing` says the caller speaks for a session that must still be live.
   */
  async acquire(sessionId: string, target: SessionTarget, principal: SessionPrincipal, options: { existing?: boolean; minted?: boolean } = {}): Promise<Lease> {
    if (this.#closed) throw new BerthError('shutting_down', 'berth is shutting down; retry against another node');
    let session = this.#sessions.get(sessionId);
    if (session?.state === 'stopping') {
      await session.ending;
      session = this.#sessions.get(sessionId);
    }
    // Another principal's session is not theirs to use, or even to learn of: it answers as if there were none.
    const notFound = () => new BerthError('session_not_found', `session ${sessionId} does not exist or has ended; start a new session without a session id`, { details: { session: sessionId } });
    if ((!session && options.existing) || (session && session.principal.key !== principal.key)) throw notFound();
    if (session && session.target.runtime !== target.runtime) {
      throw new BerthError('session_runtime_mismatch', `session ${sessionId} belongs to runtime "${session.target.runtime}", not "${target.runtime}"; use a new session id`, {
        details: { session: sessionId },
      });
    }
    if (!session && this.#options.mayCreate?.(sessionId, target.runtime, principal) === false) throw notFound();
    const created = !session;
    if (!session) session = this.#create(sessionId, target, principal, options.minted === true);
    // A second request came back to the session: whoever holds its id keeps it, for its idle timeout.
    else session.unclaimed = false;
    session.inFlight++;
    this.#clearIdle(session);
    let sandbox: Sandbox;
    try {
      sandbox = await session.ready;
    } catch (error) {
      session.inFlight--;
      throw error;
    }
    let released = false;
    const claimed = session;
    return {
      sessionId,
      sandbox,
      principal: claimed.principal,
      created,
      release: () => {
        if (released) return;
        released = true;
        claimed.inFlight--;
        claimed.lastActiveAt = Date.now();
        if (this.#quiet(claimed)) this.#armIdle(claimed);
      },
    };
  }

  #create(id: string, target: SessionTarget, principal: SessionPrincipal, minted: boolean): Session {
    if (this.#draining) {
      throw new BerthError('draining', 'this berth node is shutting down and starts no new sessions; retry shortly, and another node will take the session', {
        retryAfter: DRAINING_RETRY_AFTER_SECONDS,
      });
    }
    if (this.#sessions.size >= this.#options.maxSessions) {
      this.#options.onShed?.('sessions');
      throw new BerthError('session_limit', `this berth node holds its maximum of ${this.#options.maxSessions} live sessions; retry later or stop idle sessions`, {
        retryAfter: CAPACITY_RETRY_AFTER_SECONDS,
      });
    }
    this.#options.admission.checkMemory();
    const now = Date.now();
    const sandboxId = randomId('sbx');
    const versionKey = `${target.runtime}@${target.version}`;
    const era = target.sandbox.era === 'auto' && this.#modernVersions.has(versionKey) ? 'modern' : target.sandbox.era;
    const session: Session = {
      id,
      principal,
      target,
      sandboxId,
      state: 'starting',
      createdAt: now,
      lastActiveAt: now,
      inFlight: 0,
      unclaimed: minted,
      ready: this.#options.admission.start(() => this.#options.driver.start({ ...target.sandbox, era, id: sandboxId })),
    };
    this.#sessions.set(id, session);
    const log = this.#options.logger.child({ session: id, runtime: target.runtime, sandbox: sandboxId });
    session.ready.then(
      (sandbox) => {
        session.sandbox = sandbox;
        // Only a server that answered `server/discover` is known to be modern; `legacy` is what a failed probe
        // concludes, which one slow or unlucky start must not fix for every later sandbox.
        if (target.sandbox.era === 'auto' && sandbox.era === 'modern') this.#modernVersions.add(versionKey);
        if (session.state === 'starting') session.state = 'ready';
        const lifetimeLeft = session.createdAt + target.maxLifetimeSeconds * 1000 - Date.now();
        session.lifetimeTimer = setTimeout(() => void this.#end(session, 'lifetime'), Math.max(0, lifetimeLeft));
        session.lifetimeTimer.unref();
        if (session.inFlight === 0) this.#armIdle(session);
        // A call waiting on its client's answers, or an agent at work in the background, keeps the session from
        // idling though no request is in flight; its idle time counts from when that work ends.
        sandbox.onActivity(() => {
          if (this.#quiet(session)) {
            session.lastActiveAt = Date.now();
            this.#armIdle(session);
          } else {
            this.#clearIdle(session);
          }
        });
        // Limits met while the sandbox started (a CPU share throttling a slow start) are said now, later ones as they come.
        const reached = (event: LimitEvent): void => log.warn('session reached a limit', { limit: event.limit, effect: event.effect, detail: event.detail });
        for (const record of sandbox.limits()) reached(record);
        sandbox.onLimit(reached);
        log.info('session started', { version: target.version, pid: sandbox.pid, era: sandbox.era });
        // A sandbox whose server died takes no more requests: the session's next request gets a fresh one at once.
        void sandbox.closing.then(() => {
          if (this.#sessions.get(id) === session && session.state !== 'stopping') {
            session.state = 'stopping';
            this.#sessions.delete(id);
            void sandbox.exited.then((exit) => {
              log.warn('session sandbox exited', { exit: exit.reason, exitCode: exit.exitCode, signal: exit.signal, limit: exit.limit });
              this.#forget(session, 'sandbox-exit', exit);
            });
          }
        });
      },
      (error: unknown) => {
        // Shed load is counted in metrics; a line each would flood the log in the very burst that caused it.
        if (isBerthError(error) && error.code === 'overloaded') {
          log.debug('session not started: the node sheds load', { reason: error.message });
          if (this.#sessions.get(id) === session) this.#sessions.delete(id);
          return;
        }
        log.warn('session failed to start', { err: error });
        // A start the session's own end cut short is recorded by that end; any other failure is the session's end.
        if (session.state === 'stopping') return;
        const failure = toBerthError(error);
        this.#forget(session, 'start-failed', undefined, { code: failure.code, message: failure.message });
        if (error instanceof SandboxStartError) this.#keepOutput(id, error.output);
      },
    );
    return session;
  }

  /**
   * Stops a session's sandbox and forgets it; false when there is no such live session, or (given `as`) it is
   * another principal's.
   */
  async stop(sessionId: string, as?: SessionPrincipal): Promise<boolean> {
    const session = this.#sessions.get(sessionId);
    if (!session || (as !== undefined && session.principal.key !== as.key)) return false;
    await this.#end(session, 'stopped');
    return true;
  }

  get(sessionId: string): SessionInfo | undefined {
    const session = this.#sessions.get(sessionId);
    return session ? this.#info(session) : undefined;
  }

  ended(sessionId: string): EndedSession | undefined {
    return this.#ended.get(sessionId);
  }

  /** The session's output, newest lines within the node's bound: a live session's, or a recently ended one's. */
  logs(sessionId: string): { live: boolean; lines: OutputLine[]; dropped: number } | undefined {
    const output = this.#sessions.get(sessionId)?.sandbox?.output;
    if (output) return { live: true, ...output.read() };
    const ended = this.#endedOutput.get(sessionId);
    return ended ? { live: false, ...ended.read() } : undefined;
  }

  list(filter: { runtime?: string } = {}): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const session of this.#sessions.values()) {
      if (filter.runtime === undefined || session.target.runtime === filter.runtime) out.push(this.#info(session));
    }
    return out;
  }

  /** Ends every session; new requests are refused from now on. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#sessions.values()].map((session) => this.#end(session, 'shutdown')));
  }

  #info(session: Session): SessionInfo {
    const { target } = session;
    const info: SessionInfo = {
      id: session.id,
      runtime: target.runtime,
      version: target.version,
      principal: session.principal.userId,
      state: session.state,
      createdAt: new Date(session.createdAt).toISOString(),
      lastActiveAt: new Date(session.lastActiveAt).toISOString(),
      inFlight: session.inFlight,
      waitingForInput: session.sandbox?.activity.waiting ?? 0,
      busy: session.sandbox?.activity.busy ?? false,
      idleTimeoutSeconds: target.idleTimeoutSeconds,
      maxLifetimeSeconds: target.maxLifetimeSeconds,
      unclaimed: session.unclaimed,
      sandboxId: session.sandboxId,
      driver: session.target.sandbox.driver ?? this.#options.driver.name,
      limits: session.sandbox?.limits() ?? [],
    };
    if (session.sandbox) {
      info.pid = session.sandbox.pid;
      const memory = session.sandbox.stats().memoryBytes;
      if (memory !== undefined) info.memoryBytes = memory;
    }
    return info;
  }

  #end(session: Session, reason: EndReason): Promise<void> {
    if (session.ending) return session.ending;
    session.state = 'stopping';
    this.#clearIdle(session);
    if (session.lifetimeTimer) clearTimeout(session.lifetimeTimer);
    session.ending = (async () => {
      let exit: SandboxExit | undefined;
      try {
        const sandbox = await session.ready;
        await sandbox.stop();
        exit = await sandbox.exited;
      } catch {
        // it never started: nothing to stop
      }
      this.#options.logger.info('session ended', { session: session.id, runtime: session.target.runtime, reason, limit: exit?.limit });
      this.#forget(session, reason, exit);
    })();
    return session.ending;
  }

  #forget(session: Session, reason: EndReason, exit: SandboxExit | undefined, error?: EndedSession['error']): void {
    this.#clearIdle(session);
    if (session.lifetimeTimer) clearTimeout(session.lifetimeTimer);
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
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
    this.#ended.delete(session.id);
    this.#ended.set(session.id, record);
    if (session.sandbox) this.#keepOutput(session.id, session.sandbox.output);
    for (const listener of this.#endListeners) listener(record);
    const limit = this.#options.historySize ?? 1000;
    while (this.#ended.size > limit) {
      const oldest = this.#ended.keys().next().value;
      if (oldest === undefined) break;
      this.#ended.delete(oldest);
    }
  }

  /** Keeps an ended session's output for `logs`, for the most recently ended sessions only. */
  #keepOutput(id: string, output: OutputLog): void {
    this.#endedOutput.delete(id);
    this.#endedOutput.set(id, output);
    while (this.#endedOutput.size > ENDED_OUTPUT_KEPT) {
      const oldest = this.#endedOutput.keys().next().value;
      if (oldest === undefined) break;
      this.#endedOutput.delete(oldest);
    }
  }

  /** Idle as DESIGN.md means it: ready, nothing in flight, no call waiting on its client, no agent busy. */
  #quiet(session: Session): boolean {
    const activity = session.sandbox?.activity;
    return session.state === 'ready' && session.inFlight === 0 && (activity === undefined || (activity.waiting === 0 && !activity.busy));
  }

  #armIdle(session: Session): void {
    this.#clearIdle(session);
    // A session no second request has come back to gets the node's short grace, unless its own timeout is shorter.
    const seconds = session.unclaimed ? Math.min(this.#options.unclaimedTimeoutSeconds, session.target.idleTimeoutSeconds) : session.target.idleTimeoutSeconds;
    session.idleTimer = setTimeout(() => {
      if (this.#quiet(session)) void this.#end(session, session.unclaimed ? 'unclaimed' : 'idle');
    }, seconds * 1000);
    session.idleTimer.unref();
  }

  #clearIdle(session: Session): void {
    if (session.idleTimer) {
      clearTimeout(session.idleTimer);
      session.idleTimer = undefined;
    }
  }
}
