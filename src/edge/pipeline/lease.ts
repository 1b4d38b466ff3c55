import type { SessionOwners } from '../../cluster/session-owners.ts';
import { BerthError } from '../../core/errors.ts';
import type { Lease, SessionManager, SessionPrincipal, SessionTarget } from '../../sessions/manager.ts';
import type { Tracing } from '../../observability/tracing.ts';
import { notes } from '../../observability/request-scope.ts';

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
  readonly #owners: SessionOwners | undefined;
  readonly #tracing: Tracing;

  /** `owners`, on a node of a cluster: a session this node starts is first claimed for it in the directory. */
  constructor(sessions: SessionManager, tracing: Tracing, owners?: SessionOwners) {
    this.#sessions = sessions;
    this.#tracing = tracing;
    this.#owners = owners;
  }

  /** The session's sandbox for one request (a span of its own: a first request's includes the sandbox's start). */
  take(request: LeaseRequest): Promise<Lease> {
    notes().session = request.session;
    if (!this.#tracing.enabled) return this.#take(request);
    return this.#tracing.around('berth.session.lease', { 'mcp.session.id': request.session, 'berth.runtime': request.target.runtime }, () =>
      this.#take(request),
    );
  }

  async #take(request: LeaseRequest): Promise<Lease> {
    const { session, target, principal, existing, minted } = request;
    // A request naming its session, in its head or by its requestState, was sent on to the owner before this step
    // (owner-route.ts); one that still reaches here for a session another node holds came over a stale hop.
    if (
      this.#owners &&
      !this.#sessions.has(session) &&
      !(await this.#owners.placeOf(session, { runtime: target.runtime, version: target.version, principal: principal.userId }, { hereOnly: true })).here
    ) {
      throw new BerthError(
        'misdirected',
        `session ${session} is held by another node of the cluster: send its requests with the session header, and any node passes them on`,
      );
    }
    return this.#sessions.acquire(session, target, principal, { existing, minted });
  }
}
