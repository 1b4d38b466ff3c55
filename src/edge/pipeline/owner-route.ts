import type { NodeHop } from '../../cluster/node-hop.ts';
import { HOP_EPOCH_HEADER } from '../../cluster/node-hop.ts';
import type { SessionOwners } from '../../cluster/session-owners.ts';
import type { Answer } from '../../core/answer.ts';
import { BerthError, isBerthError } from '../../core/errors.ts';
import type { Caller } from './caller.ts';
import { namedSession } from './session-key.ts';

/** A legacy client's `Mcp-Session-Id`: its session's id, or that id and a suffix of its own (another window). */
const LEGACY_CLIENT_ID = /^(.+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The session a request names in its head, whichever door it came by; undefined for one that names none. */
function sessionInHead(caller: Caller): string | undefined {
  const named = namedSession(caller);
  if (named !== undefined) return named;
  const legacy = caller.headers.get('mcp-session-id');
  if (legacy === null) return undefined;
  return LEGACY_CLIENT_ID.exec(legacy)?.[1] ?? legacy;
}

/**
 * The cluster's step of the pipeline, right after admission: a request whose session another node holds is passed
 * on to that node whole, before any door reads it, and its answer passed back; one for a session held here, or
 * nobody's yet (claimed here), goes on to its door. A request that came from another node is served here or
 * refused as misdirected (421), never passed on again: one hop at most.
 */
export function ownerRoute(owners: SessionOwners, hop: NodeHop): (caller: Caller) => Promise<Answer | undefined> {
  return async (caller) => {
    // A runtime that does not exist has no sessions anywhere: its door says so, and the directory is not touched.
    const session = caller.resolved === undefined ? undefined : sessionInHead(caller);
    if (session === undefined) return undefined;
    const fromNode = hop.isHop(caller.inbound);
    const place = await owners.placeOf(session, caller.runtime, fromNode);
    if (fromNode) {
      const seen = Number(caller.headers.get(HOP_EPOCH_HEADER));
      const held = owners.heldEpoch(session);
      if (!place.here || held === undefined || seen > held) {
        throw new BerthError('misdirected', `session ${session} is not held by this node any more; retry, and the cluster finds where it is`, {
          retryAfter: 0,
        });
      }
      return undefined;
    }
    if (place.here) return undefined;
    try {
      const answer = await hop.forward(caller.inbound, place.url, place.epoch);
      // The owner no longer holds it: the next request looks again.
      if (answer.status === 421) owners.forget(session);
      return answer;
    } catch (error) {
      owners.forget(session);
      throw isBerthError(error) ? error : new BerthError('sandbox_unavailable', 'the node holding this session could not be reached', { cause: error });
    }
  };
}
