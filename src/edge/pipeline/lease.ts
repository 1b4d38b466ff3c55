import type { Lease, SessionManager, SessionPrincipal, SessionTarget } from '../../sessions/manager.ts';

/** What a request needs of its session: which session, the runtime version it runs, and whose it is. */
export interface LeaseRequest {
  session: string;
  target: SessionTarget;
  principal: SessionPrincipal;
  /** The session must already be live (a legacy client past initialize): `session_not_found` otherwise. */
  existing?: boolean;
  /** berth made the session's id for a request that named none: it ends unless the client comes back to it. */
  minted?: boolean;
}

/**
 * The pipeline's lease step: every door takes its session's sandbox here and nowhere else, once its caller is
 * admitted and its session key worked out. On one node it is the node's own session, started when there is none;
 * this is the one step where a cluster forwards a request whose session another node holds.
 */
export class SessionLeases {
  readonly #sessions: SessionManager;

  constructor(sessions: SessionManager) {
    this.#sessions = sessions;
  }

  take(request: LeaseRequest): Promise<Lease> {
    const { session, target, principal, existing, minted } = request;
    return this.#sessions.acquire(session, target, principal, { existing, minted });
  }
}
