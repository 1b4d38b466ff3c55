import type { NodeHop } from '../../cluster/node-hop.ts';
import { HOP_EPOCH_HEADER, type HopExtras } from '../../cluster/node-hop.ts';
import type { SessionOwners } from '../../cluster/session-owners.ts';
import { NodeAnswer, UpgradeAnswer, type Answer, type AnswerHeaders } from '../../core/answer.ts';
import { HOP_BY_HOP_HEADERS } from '../../core/http.ts';
import { answerHead } from '../../core/http1-wire.ts';
import { joinSockets, type TunnelAnswer } from '../../core/tunnel.ts';
import { BerthError, isBerthError } from '../../core/errors.ts';
import { SESSION_HEADER } from '../mcp/channel-call.ts';
import type { Caller } from './caller.ts';
import { checkSessionId } from '../../core/ids.ts';
import { namedSession } from './session-key.ts';

/**
 * The owner's answer to an upgrade passed on to it, as this node's: its 101, after which the client's connection is
 * joined to the owner's byte for byte, or its refusal as it came.
 */
function hopAnswer(answer: TunnelAnswer): Answer {
  if (!answer.upgraded) {
    const headers: AnswerHeaders = {};
    for (const [name, value] of Object.entries(answer.headers))
      if (!HOP_BY_HOP_HEADERS.includes(name as never) && name !== 'content-length') headers[name] = value;
    return new NodeAnswer(answer.status, headers, answer.body);
  }
  const { socket: owner, head: ownerHead } = answer;
  const headers: AnswerHeaders = {};
  for (const [name, value] of Object.entries(answer.headers)) if (name !== 'connection') headers[name] = value;
  return new UpgradeAnswer(
    headers,
    (client, clientHead) => {
      client.write(answerHead(101, 'Switching Protocols', headers, 'connection: Upgrade\r\n'), 'latin1');
      if (ownerHead.length > 0) client.write(ownerHead);
      if (clientHead.length > 0) owner.write(clientHead);
      joinSockets(client, owner);
    },
    () => owner.destroy(),
  );
}

/** A legacy client's `Mcp-Session-Id`: its session's id, or that id and a suffix of its own (another window). */
const LEGACY_CLIENT_ID = /^(.+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The session a request names in its head, whichever door it came by; undefined for one that names none. */
function sessionInHead(caller: Caller): string | undefined {
  const named = namedSession(caller);
  if (named !== undefined) return named;
  const legacy = caller.headers.get('mcp-session-id');
  if (legacy === null) return undefined;
  return checkSessionId(LEGACY_CLIENT_ID.exec(legacy)?.[1] ?? legacy);
}

/**
 * The cluster's step of the pipeline, right after admission: a request whose session another node holds is passed
 * on to that node whole, before any door reads it, with the principal it was admitted as, and its answer passed
 * back; one for a session held here, or nobody's yet (claimed here), goes on to its door. A request that came from
 * another node is served here or refused as misdirected (421), never passed on again: one hop at most.
 */
export class OwnerRoute {
  readonly #owners: SessionOwners;
  readonly #hop: NodeHop;

  constructor(owners: SessionOwners, hop: NodeHop) {
    this.#owners = owners;
    this.#hop = hop;
  }

  /**
   * The step for a request whose head names its session (header, URL, `Mcp-Session-Id`), or that names none and
   * so may start one; undefined: go on here. A door that reads the body first (`readsBody`: the MCP endpoint, where a
   * requestState may name the session) places a request that names none itself, through `routeRead`.
   */
  async route(caller: Caller, readsBody = false): Promise<Answer | undefined> {
    // A runtime that does not exist has no sessions anywhere: its door says so, and the directory is not touched.
    if (caller.resolved === undefined) return undefined;
    const session = sessionInHead(caller);
    if (session !== undefined) return this.#toOwner(caller, session);
    return readsBody ? undefined : this.#toRoom(caller);
  }

  /**
   * The step for a request whose head names no session, once its door has read the body: passed on with that body to
   * the node holding the session its requestState names, or, naming none and so starting one, to the member with
   * the most room when this node has none. Undefined: it is served here.
   */
  async routeRead(caller: Caller, session: string | undefined, body: Uint8Array): Promise<Answer | undefined> {
    if (caller.resolved === undefined || sessionInHead(caller) !== undefined) return undefined;
    return session === undefined ? this.#toRoom(caller, body) : this.#toOwner(caller, session, body);
  }

  /** A request that may start a session on a node with no room goes whole to the member with the most room. */
  async #toRoom(caller: Caller, body?: Uint8Array): Promise<Answer | undefined> {
    if (this.#owners.hasRoom || this.#hop.isHop(caller.inbound)) return undefined;
    const room = await this.#owners.roomElsewhere();
    if (!room) return undefined;
    return this.#forward(caller, room.url, { epoch: 0, principal: caller.principal, lost: this.#owners.lostSignal(room.id), ...(body ? { body } : {}) });
  }

  async #toOwner(caller: Caller, session: string, body?: Uint8Array): Promise<Answer | undefined> {
    const owners = this.#owners;
    const fromNode = this.#hop.isHop(caller.inbound);
    const holding = { runtime: caller.runtime, principal: caller.principal.userId, ...(caller.resolved ? { version: caller.resolved.version.version } : {}) };
    const place = await owners.placeOf(session, holding, { fresh: fromNode, hereOnly: fromNode });
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
      const answer = await this.#forward(caller, place.url, {
        epoch: place.epoch,
        principal: caller.principal,
        lost: owners.lostSignal(place.owner),
        ...(body ? { body, headers: { [SESSION_HEADER]: session } } : {}),
      });
      // The owner no longer holds it: the next request looks again.
      if (answer.status === 421) owners.forget(session);
      return answer;
    } catch (error) {
      owners.forget(session);
      throw error;
    }
  }

  async #forward(caller: Caller, url: string, extras: HopExtras): Promise<Answer> {
    try {
      if (caller.inbound.upgrade) return hopAnswer(await this.#hop.upgrade(caller.inbound, url, extras));
      return await this.#hop.forward(caller.inbound, url, extras);
    } catch (error) {
      throw isBerthError(error) ? error : new BerthError('sandbox_unavailable', `the node at ${url} could not be reached`, { cause: error });
    }
  }
}
