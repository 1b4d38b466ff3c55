import type { Sandbox } from '../sandbox/driver.ts';
import { isQuiet, type EndReason, type Session } from './session.ts';

/** The ends a session's own clock brings. */
export type TimedEnd = Extract<EndReason, 'idle' | 'unclaimed' | 'lifetime'>;

/**
 * A session's clock: it ends a session that has been quiet for its idle timeout (or, while unclaimed, the node's
 * shorter grace) and one that has lived its maximum lifetime, whatever it is doing. The timers live on the session
 * record, so ending a session clears them in one place; each is unref'd, since a timer alone keeps no node alive.
 */
export class SessionTimers {
  readonly #unclaimedTimeoutSeconds: number;
  readonly #end: (session: Session, reason: TimedEnd) => void;

  /** `end` ends the session; the timers only decide when. */
  constructor(unclaimedTimeoutSeconds: number, end: (session: Session, reason: TimedEnd) => void) {
    this.#unclaimedTimeoutSeconds = unclaimedTimeoutSeconds;
    this.#end = end;
  }

  /**
   * The session's sandbox is ready: its lifetime (counted from its creation, which the start took part of) runs out
   * from now on, and its idle time counts whenever it is quiet.
   */
  started(session: Session, sandbox: Sandbox): void {
    const lifetimeLeft = session.createdAt + session.target.maxLifetimeSeconds * 1000 - Date.now();
    session.lifetimeTimer = setTimeout(() => this.#end(session, 'lifetime'), Math.max(0, lifetimeLeft));
    session.lifetimeTimer.unref();
    if (session.inFlight === 0) this.#armIdle(session);
    // A call waiting on its client's answers, or an agent at work in the background, keeps the session from
    // idling though no request is in flight; its idle time counts from when that work ends.
    sandbox.onActivity(() => {
      if (isQuiet(session)) {
        session.lastActiveAt = Date.now();
        this.#armIdle(session);
      } else {
        this.#clearIdle(session);
      }
    });
  }

  /** A request claimed the session: it is not idle while the request is in flight. */
  claimed(session: Session): void {
    this.#clearIdle(session);
  }

  /** A request's answer is over: the session was active now, and its idle time counts from here once it is quiet. */
  released(session: Session): void {
    session.lastActiveAt = Date.now();
    if (isQuiet(session)) this.#armIdle(session);
  }

  /** The session ends: none of its timers may fire after. */
  stop(session: Session): void {
    this.#clearIdle(session);
    if (session.lifetimeTimer) clearTimeout(session.lifetimeTimer);
  }

  #armIdle(session: Session): void {
    this.#clearIdle(session);
    // A session no second request has come back to gets the node's short grace, unless its own timeout is shorter.
    const seconds = session.unclaimed ? Math.min(this.#unclaimedTimeoutSeconds, session.target.idleTimeoutSeconds) : session.target.idleTimeoutSeconds;
    session.idleTimer = setTimeout(() => {
      if (isQuiet(session)) this.#end(session, session.unclaimed ? 'unclaimed' : 'idle');
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
