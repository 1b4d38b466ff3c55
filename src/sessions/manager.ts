import { BerthError, isBerthError, toBerthError } from '../core/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { BerthMetrics } from '../observability/berth-metrics.ts';
import { noTracing, type Tracing } from '../observability/tracing.ts';
import type { LimitEvent, Sandbox, SandboxExit, SandboxSpec } from '../sandbox/driver.ts';
import type { OutputLine } from '../sandbox/output-log.ts';
import { SandboxStartError } from '../sandbox/start-error.ts';
import { EndedSessions } from './ended-sessions.ts';
import {
  RECENT_REQUESTS,
  type RequestRecord,
  describeSession,
  isQuiet,
  type EndedSession,
  type EndReason,
  type Lease,
  type Session,
  type SessionInfo,
  type SessionPrincipal,
  type SessionTarget,
} from './session.ts';
import { SessionStarter, type SessionStarterOptions } from './session-start.ts';
import { SessionTimers } from './session-timers.ts';

// The session's own types are the manager's API: its importers find them here.
export type { EndedSession, EndReason, Lease, SessionInfo, SessionPrincipal, SessionState, SessionTarget } from './session.ts';

export interface SessionManagerOptions extends SessionStarterOptions {
  logger: Logger;
  /**
   * How long a session berth made for a request that named no session waits for a second request before it ends
   * (its idle timeout takes over once one comes): a client that keeps no session id never returns to it.
   */
  unclaimedTimeoutSeconds: number;
  /** Ended sessions remembered for inspection. */
  historySize?: number;
  /**
   * Whether `principal` may make a session under `id` of `runtime`; a refused one answers as if it did not exist.
   * Ids that belong to someone (a principal's own session) are theirs to make alone.
   */
  mayCreate?: (id: string, runtime: string, principal: SessionPrincipal) => boolean;
  /** Starts and limit hits, counted by runtime. */
  metrics?: BerthMetrics;
  /** A first request's span of its sandbox's start. */
  tracing?: Tracing;
}

/**
 * The session directory: session id → the one sandbox that holds its state. It creates sandboxes on first use
 * (concurrent first requests share one start), counts requests in flight, ends a session when its timers say so
 * (`SessionTimers`: idle, unclaimed, lifetime), and forgets a session whose sandbox died, so its next request gets a
 * fresh sandbox. What it remembers of ended sessions is `EndedSessions`'.
 */
export class SessionManager {
  readonly #options: SessionManagerOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #ended: EndedSessions;
  readonly #timers: SessionTimers;
  readonly #starter: SessionStarter;
  readonly #endListeners: Array<(ended: EndedSession) => void> = [];
  /** CPU seconds the ended sessions' sandboxes used, by runtime: with the live ones', a count that never falls. */
  readonly #endedCpu = new Map<string, number>();
  #closed = false;

  constructor(options: SessionManagerOptions) {
    this.#options = options;
    this.#starter = new SessionStarter(options);
    this.#ended = new EndedSessions(options.historySize);
    this.#timers = new SessionTimers(options.unclaimedTimeoutSeconds, (session, reason) => void this.#end(session, reason));
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
    return this.#starter.draining;
  }

  /** What a sandbox of `target` is started with (a warm pool's too): under a fresh id, in the era learned for it. */
  sandboxSpecOf(target: SessionTarget): SandboxSpec {
    return this.#starter.specOf(target);
  }

  /** Starts draining: from now on a request that would make a session gets 503 `draining`. */
  drain(): void {
    this.#starter.drain();
  }

  /** Live sessions with work under way: starting, a request in flight, a call waiting on its client, an agent busy. */
  get working(): number {
    let count = 0;
    for (const session of this.#sessions.values()) if (session.state !== 'stopping' && !isQuiet(session)) count++;
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
  /**
   * A lease on a live session of this node for its operator (an admin's shell): as the session's own principal, on
   * the version it runs, never starting a session.
   */
  async acquireAsOwner(sessionId: string): Promise<Lease> {
    const session = this.#sessions.get(sessionId);
    if (!session) {
      throw new BerthError(
        'session_not_found',
        `session ${sessionId} is not live on this node: it has ended, or another node of the cluster holds it (berth sessions names it; use that node's --url)`,
      );
    }
    return this.acquire(sessionId, session.target, session.principal, { existing: true });
  }

  async acquire(sessionId: string, target: SessionTarget, principal: SessionPrincipal, options: { existing?: boolean; minted?: boolean } = {}): Promise<Lease> {
    if (this.#closed) throw new BerthError('shutting_down', 'berth is shutting down; retry against another node');
    let session = this.#sessions.get(sessionId);
    if (session?.state === 'stopping') {
      await session.ending;
      session = this.#sessions.get(sessionId);
    }
    // Another principal's session is not theirs to use, or even to learn of: it answers as if there were none.
    const notFound = () =>
      new BerthError('session_not_found', `session ${sessionId} does not exist or has ended; start a new session without a session id`, {
        details: { session: sessionId },
      });
    if ((!session && options.existing) || (session && session.principal.key !== principal.key)) throw notFound();
    if (session && session.target.runtime !== target.runtime) {
      throw new BerthError(
        'session_runtime_mismatch',
        `session ${sessionId} belongs to runtime "${session.target.runtime}", not "${target.runtime}"; use a new session id`,
        {
          details: { session: sessionId },
        },
      );
    }
    if (!session && this.#options.mayCreate?.(sessionId, target.runtime, principal) === false) throw notFound();
    const created = !session;
    if (!session) session = this.#create(sessionId, target, principal, options.minted === true);
    // A second request came back to the session: whoever holds its id keeps it, for its idle timeout.
    else session.unclaimed = false;
    session.inFlight++;
    this.#timers.claimed(session);
    let sandbox: Sandbox;
    try {
      const tracing = this.#options.tracing ?? noTracing;
      const starting = session;
      sandbox =
        created && tracing.enabled
          ? await tracing.around(
              'berth.sandbox.start',
              { 'berth.sandbox.pooled': starting.pooled, 'berth.sandbox.id': starting.sandboxId },
              () => starting.ready,
            )
          : await session.ready;
    } catch (error) {
      session.inFlight--;
      throw error;
    }
    let released = false;
    const claimed = session;
    const used = sandbox.using();
    return {
      sessionId,
      sandbox,
      principal: claimed.principal,
      created,
      release: () => {
        if (released) return;
        released = true;
        used();
        claimed.inFlight--;
        this.#timers.released(claimed);
      },
    };
  }

  /** Makes a session and starts its sandbox, once the node has room for it; refuses with why it has none. */
  #create(id: string, target: SessionTarget, principal: SessionPrincipal, minted: boolean): Session {
    const session = this.#starter.start(id, target, principal, minted, this.#sessions.size);
    this.#sessions.set(id, session);
    const log = this.#options.logger.child({ session: id, runtime: target.runtime, sandbox: session.sandboxId });
    const began = performance.now();
    const kind = session.pooled ? 'pooled' : 'cold';
    session.ready.then(
      (sandbox) => {
        this.#options.metrics?.sessionStarted(target.runtime, kind, (performance.now() - began) / 1000);
        this.#started(session, sandbox, log);
      },
      (error: unknown) => {
        // Shed load is counted in metrics; a line each would flood the log in the very burst that caused it.
        if (isBerthError(error) && error.code === 'overloaded') {
          log.debug('session not started: the node sheds load', { reason: error.message });
          if (this.#sessions.get(id) === session) this.#sessions.delete(id);
          return;
        }
        log.warn('session failed to start', { err: error });
        this.#options.metrics?.sessionStartFailed(target.runtime, kind);
        // A start the session's own end cut short is recorded by that end; any other failure is the session's end.
        if (session.state === 'stopping') return;
        const failure = toBerthError(error);
        this.#forget(session, 'start-failed', undefined, { code: failure.code, message: failure.message });
        if (error instanceof SandboxStartError) this.#ended.keepOutput(id, error.output);
      },
    );
    return session;
  }

  /** The session's sandbox is ready: it serves, its clock runs, its limits are logged, and its death is its end. */
  #started(session: Session, sandbox: Sandbox, log: Logger): void {
    session.sandbox = sandbox;
    if (session.state === 'starting') session.state = 'ready';
    this.#timers.started(session, sandbox);
    // Limits met while the sandbox started (a CPU share throttling a slow start) are said now, later ones as they come.
    const reached = (event: LimitEvent): void => {
      this.#options.metrics?.limitHit(session.target.runtime, event.limit, event.effect);
      log.warn('session reached a limit', { limit: event.limit, effect: event.effect, detail: event.detail });
    };
    for (const record of sandbox.limits()) reached(record);
    sandbox.onLimit(reached);
    log.info('session started', { version: session.target.version, pid: sandbox.pid, era: sandbox.era });
    // A sandbox whose server died takes no more requests: the session's next request gets a fresh one at once.
    void sandbox.closing.then(() => {
      if (this.#sessions.get(session.id) === session && session.state !== 'stopping') {
        session.state = 'stopping';
        this.#sessions.delete(session.id);
        void sandbox.exited.then((exit) => {
          log.warn('session sandbox exited', { exit: exit.reason, exitCode: exit.exitCode, signal: exit.signal, limit: exit.limit });
          this.#forget(session, 'sandbox-exit', exit);
        });
      }
    });
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
    return session ? describeSession(session, this.#options.driver.name) : undefined;
  }

  ended(sessionId: string): EndedSession | undefined {
    return this.#ended.get(sessionId);
  }

  /** The session's output, newest lines within the node's bound: a live session's, or a recently ended one's. */
  logs(sessionId: string): { live: boolean; lines: OutputLine[]; dropped: number } | undefined {
    const output = this.#sessions.get(sessionId)?.sandbox?.output;
    if (output) return { live: true, ...output.read() };
    const ended = this.#ended.output(sessionId);
    return ended ? { live: false, ...ended.read() } : undefined;
  }

  list(filter: { runtime?: string } = {}): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const session of this.#sessions.values()) {
      if (filter.runtime === undefined || session.target.runtime === filter.runtime) out.push(describeSession(session, this.#options.driver.name));
    }
    return out;
  }

  /** Records a request the live session served (the console charts its latest). */
  noteRequest(sessionId: string, record: RequestRecord): void {
    const session = this.#sessions.get(sessionId);
    if (!session) return;
    session.requests[session.requestCount % RECENT_REQUESTS] = record;
    session.requestCount++;
  }

  /** Each live session's runtime, state as metrics tell it, and its sandbox's memory and CPU. */
  *census(): Generator<SessionCensus> {
    for (const session of this.#sessions.values()) {
      const stats = session.sandbox?.stats();
      yield { runtime: session.target.runtime, state: censusState(session), memoryBytes: stats?.memoryBytes ?? 0, cpuSeconds: stats?.cpuSeconds ?? 0 };
    }
  }

  /** CPU seconds used by the sandboxes of sessions that have ended, by runtime. */
  endedCpuSeconds(): ReadonlyMap<string, number> {
    return this.#endedCpu;
  }

  /** Ends every session; new requests are refused from now on. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#sessions.values()].map((session) => this.#end(session, 'shutdown')));
  }

  /** Stops the session's sandbox (once, however many ask) and forgets the session once it has exited. */
  #end(session: Session, reason: EndReason): Promise<void> {
    if (session.ending) return session.ending;
    session.state = 'stopping';
    this.#timers.stop(session);
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

  /** The session is over: it leaves the directory, its end is recorded, and the end's listeners hear it. */
  #forget(session: Session, reason: EndReason, exit: SandboxExit | undefined, error?: EndedSession['error']): void {
    this.#timers.stop(session);
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    const cpu = session.sandbox?.stats().cpuSeconds;
    if (cpu !== undefined) this.#endedCpu.set(session.target.runtime, (this.#endedCpu.get(session.target.runtime) ?? 0) + cpu);
    const record = this.#ended.add(session, reason, exit, error);
    for (const listener of this.#endListeners) listener(record);
  }
}

/** A live session as metrics count it. */
export interface SessionCensus {
  runtime: string;
  state: 'starting' | 'idle' | 'active' | 'waiting_for_input' | 'busy' | 'stopping';
  memoryBytes: number;
  cpuSeconds: number;
}

function censusState(session: Session): SessionCensus['state'] {
  if (session.state !== 'ready') return session.state;
  const activity = session.sandbox?.activity;
  if (activity !== undefined && activity.waiting > 0) return 'waiting_for_input';
  if (session.inFlight > 0) return 'active';
  return activity?.busy ? 'busy' : 'idle';
}
