import { NodeAnswer, type Answer } from '../core/answer.ts';
import { BerthError, isBerthError } from '../core/errors.ts';
import { readUpTo } from '../core/read-up-to.ts';
import type { RuntimeService } from '../control/runtimes.ts';
import type { Logger } from '../observability/logger.ts';
import { notes } from '../observability/request-scope.ts';
import type { Lease } from '../sessions/manager.ts';
import type { SessionScope } from './auth/session-scope.ts';
import { agentHeaders, restErrorWithSession } from './invocations.ts';
import { callChannel, relayWhole } from './mcp/channel-call.ts';
import type { Caller } from './pipeline/caller.ts';
import { doorError } from './pipeline/door-errors.ts';
import type { SessionLeases } from './pipeline/lease.ts';
import { namedSession, sessionKey } from './pipeline/session-key.ts';

/** Where an A2A agent serves its card, and the channel's route to it. */
export const AGENT_CARD_PATH = '/.well-known/agent-card.json';
/** The largest card berth reads; a card is a few kilobytes. */
const MAX_CARD_BYTES = 1024 * 1024;
/** Hosts an agent's card may name for itself, which mean nothing outside its sandbox. */
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '0.0.0.0', '[::]', '[::1]']);

export interface AgentCardOptions {
  runtimes: RuntimeService;
  leases: SessionLeases;
  scope: SessionScope;
  logger: Logger;
  /** Whether this node holds a live session of that id. */
  isLive: (sessionId: string) => boolean;
}

/** How many runtime versions' cards are kept; the oldest kept goes first. */
const MAX_CARDS = 256;

/**
 * `GET /runtimes/{name}/invocations/.well-known/agent-card.json` (AgentCore's GetAgentCard, and berth's own route
 * for an A2A runtime): the card of the agent in the session's sandbox (the session named, or a new one, returned in
 * the session header). An agent names itself at its address inside the sandbox; every such URL in the card
 * (`url`, `additionalInterfaces`, `supportedInterfaces`) is replaced with the runtime's URL at berth, where its
 * JSON-RPC is served (`POST /runtimes/{name}/invocations`), so a client that reads the card calls berth.
 *
 * A card is its runtime version's, not a session's: once a version's agent has served it, a request for it that
 * names no live session (a client reading the card before it starts a session; AgentCore's SDK names a fresh id
 * each time) is answered from what was kept, without starting a sandbox.
 */
export function createAgentCardDoor(options: AgentCardOptions) {
  const { runtimes, leases, scope, logger, isLive } = options;
  const cards = new Map<string, { body: Buffer; type: string }>();
  return async (caller: Caller): Promise<Answer> => {
    notes().door = 'agent-card';
    let sessionId: string | undefined;
    let lease: Lease | undefined;
    try {
      const resolved = caller.resolved ?? (await runtimes.resolve(caller.runtime, caller.endpoint));
      if (resolved.version.spec.protocol !== 'a2a') {
        throw new BerthError('not_found', `runtime "${caller.runtime}" speaks ${resolved.version.spec.protocol}: only A2A agents have an agent card`);
      }
      const version = `${caller.runtime}@${resolved.version.version}`;
      const named = namedSession(caller);
      const kept = cards.get(version);
      if (kept && (named === undefined || !isLive(named))) {
        const body = rewriteCard(kept.body, runtimeUrl(caller));
        return new NodeAnswer(200, { 'content-type': kept.type, 'content-length': String(body.length) }, body);
      }
      let minted = false;
      sessionId = sessionKey(caller, {
        fresh: () => {
          const fresh = scope.fresh(resolved.version.spec, caller.runtime, caller.principal);
          minted = !scope.isOwn(fresh);
          return fresh;
        },
      });
      lease = await leases.take({ session: sessionId, target: resolved.target, principal: caller.principal, minted });
      const answer = await callChannel(lease, agentHeaders(lease, caller.headers), '', caller.signal, AGENT_CARD_PATH, 'GET');
      const read = answer.whole ?? (await readUpTo(answer.body, MAX_CARD_BYTES));
      if (read instanceof Error) throw new BerthError('sandbox_failed', `the agent's card could not be read: ${read.message}`);
      if (Array.isArray(read)) throw new BerthError('sandbox_failed', `the agent's card is over ${MAX_CARD_BYTES} bytes`);
      if (answer.status === 200) {
        if (cards.size >= MAX_CARDS) cards.delete(cards.keys().next().value as string);
        cards.set(version, { body: read, type: String(answer.headers['content-type'] ?? 'application/json') });
      }
      const body = answer.status === 200 ? rewriteCard(read, runtimeUrl(caller)) : read;
      return relayWhole({ ...answer, headers: { ...answer.headers, 'content-length': String(body.length) } }, lease.sessionId, body);
    } catch (error) {
      if (!isBerthError(error)) logger.error('agent card failed', { runtime: caller.runtime, session: sessionId, err: error });
      const session = sessionId;
      return doorError(caller, error, (berth) => restErrorWithSession(berth, session));
    } finally {
      lease?.release();
    }
  };
}

/** The runtime's invocation URL as the caller reached it (behind a proxy that says so, with its scheme). */
function runtimeUrl(caller: Caller): string {
  const forwarded = caller.headers.get('x-forwarded-proto');
  const scheme = forwarded === 'https' || forwarded === 'http' ? `${forwarded}:` : caller.url.protocol;
  const label = caller.url.pathname.split('/')[2] as string;
  return `${scheme}//${caller.url.host}/runtimes/${label}/invocations`;
}

/** The card with each URL naming the agent's own local address replaced by `url`; a card that is not JSON passes as it is. */
export function rewriteCard(bytes: Buffer, url: string): Buffer {
  let card: unknown;
  try {
    card = JSON.parse(bytes.toString('utf8'));
  } catch {
    return bytes;
  }
  if (typeof card !== 'object' || card === null || Array.isArray(card)) return bytes;
  const record = card as Record<string, unknown>;
  const local = (value: unknown): boolean => {
    if (typeof value !== 'string') return false;
    try {
      return LOCAL_HOSTS.has(new URL(value).hostname);
    } catch {
      return false;
    }
  };
  if (local(record.url)) record.url = url;
  for (const field of ['additionalInterfaces', 'supportedInterfaces']) {
    const list = record[field];
    if (!Array.isArray(list)) continue;
    for (const entry of list as unknown[]) {
      if (typeof entry === 'object' && entry !== null && local((entry as Record<string, unknown>).url)) (entry as Record<string, unknown>).url = url;
    }
  }
  return Buffer.from(JSON.stringify(record));
}
