import { BerthError } from '../../core/errors.ts';
import { checkSessionId } from '../../core/ids.ts';
import { SESSION_HEADER } from '../mcp/channel-call.ts';
import type { Caller } from './caller.ts';

/** What a request names of its session itself: the session header, or the session in the URL (they must agree). */
export function namedSession(caller: Caller): string | undefined {
  const header = caller.headers.get(SESSION_HEADER);
  const inUrl = caller.params.sessionId;
  if (header !== null && inUrl !== undefined && header !== inUrl) {
    throw new BerthError('invalid_session_id', `the session id in the URL and the ${SESSION_HEADER} header differ; send one, or the same in both`);
  }
  const given = header ?? inUrl;
  return given === undefined ? undefined : checkSessionId(given);
}

export interface SessionKeyOptions {
  /** The session a verified requestState was issued in; it wins, and the request may name no other. */
  stateSession?: string;
  /** The session of a request that names none: a new one, or the principal's own. */
  fresh: () => string;
}

/**
 * berth's one rule for which session a request belongs to, first match wins: the session its requestState was
 * issued in, the session header, the session in the URL; with none, `fresh()`. Every door asks this.
 */
export function sessionKey(caller: Caller, options: SessionKeyOptions): string {
  const given = namedSession(caller);
  if (options.stateSession !== undefined) {
    if (given !== undefined && given !== options.stateSession) {
      throw new BerthError('request_state_mismatch', 'requestState was issued in another session than the one this request names');
    }
    return options.stateSession;
  }
  return given ?? options.fresh();
}

/** A door that serves only a session the request names (AgentCore's StopRuntimeSession and commands). */
export function requiredSession(caller: Caller, operation: string): string {
  const given = namedSession(caller);
  if (given === undefined) throw new BerthError('validation_failed', `${operation} needs the ${SESSION_HEADER} header (runtimeSessionId)`);
  return given;
}
