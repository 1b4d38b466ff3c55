import type { NodeDirectory } from './nodes.ts';

/** Where a node answers the other nodes with its own sessions. */
export const NODE_SESSIONS_PATH = '/internal/v1/sessions';
/** How long a node waits for another's sessions before it lists that node as unreachable. */
const ASK_TIMEOUT_MS = 3_000;

/** One page of a session list, in the order of session ids: those after `after`, at most `limit` of them. */
export interface SessionsQuery {
  runtime?: string;
  after?: string;
  limit: number;
}

/** A page of the cluster's sessions, and the live nodes that did not answer for theirs. */
export interface ClusterPage<T> {
  items: T[];
  unreachable: Array<{ id: string; url: string }>;
}

/** The query as a node asks another for it. */
export function sessionsQueryString(query: SessionsQuery): string {
  const search = new URLSearchParams({ limit: String(query.limit) });
  if (query.runtime !== undefined) search.set('runtime', query.runtime);
  if (query.after !== undefined) search.set('after', query.after);
  return search.toString();
}

/** The query another node asked this one, or undefined when it is not one a node sends. */
export function sessionsQueryOf(url: URL): SessionsQuery | undefined {
  const limit = Number(url.searchParams.get('limit'));
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) return undefined;
  const runtime = url.searchParams.get('runtime');
  const after = url.searchParams.get('after');
  return { limit, ...(runtime === null ? {} : { runtime }), ...(after === null ? {} : { after }) };
}

/**
 * One page of every live node's sessions, as if they were one list: each node is asked for the same page of its
 * own (this one without a hop), and the answers merged by id; the first `limit` of them are the cluster's page,
 * so paging on from its last id pages on through the whole cluster. A node that does not answer in time is named
 * in `unreachable` rather than failing the list or leaving it out unsaid. `ask` asks a node one of its internal
 * routes (`NodeHop.ask`).
 */
export async function clusterSessions<T extends { id: string }>(
  nodes: NodeDirectory,
  ask: (nodeUrl: string, path: string, timeoutMs: number) => Promise<unknown>,
  own: (query: SessionsQuery) => T[],
  query: SessionsQuery,
): Promise<ClusterPage<T>> {
  const others = (await nodes.list()).filter((node) => node.live && !node.self);
  const unreachable: ClusterPage<T>['unreachable'] = [];
  const answers = await Promise.all(
    others.map(async (node) => {
      try {
        const items = (await ask(node.url, `${NODE_SESSIONS_PATH}?${sessionsQueryString(query)}`, ASK_TIMEOUT_MS)) as T[];
        if (!Array.isArray(items)) throw new Error('not a list of sessions');
        return items;
      } catch {
        unreachable.push({ id: node.id, url: node.url });
        return [];
      }
    }),
  );
  const items = [own(query), ...answers].flat().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { items: items.slice(0, query.limit), unreachable };
}
