import { BerthError } from '../core/errors.ts';
import { jsonResponse } from '../core/http.ts';
import type { WebRoute } from '../core/router.ts';
import { isHopToken, type ClusterKeys } from './cluster-keys.ts';

/** Where a node says who it is, to the nodes of its cluster only. */
export const NODE_WHOAMI_PATH = '/internal/v1/node';
/** The header one node shows another on the internal hop. */
export const HOP_HEADER = 'x-berth-hop';

/** The internal routes a node of a cluster serves to the others, each refusing a caller without the hop token. */
export function nodeHopRoutes(keys: ClusterKeys, self: () => { id: string; url: string }): WebRoute[] {
  return [
    {
      method: 'GET',
      pattern: NODE_WHOAMI_PATH,
      handler: (request) => {
        if (!isHopToken(keys, request.headers.get(HOP_HEADER))) {
          throw new BerthError(
            'forbidden',
            "berth's internal routes are for the nodes of its cluster, which show the hop token derived from BERTH_CLUSTER_KEY",
          );
        }
        return jsonResponse(200, self());
      },
    },
  ];
}

/**
 * Checks that `advertised` reaches this very node, as the other nodes will use it: a URL that reaches nothing,
 * or another node, or a node of another cluster, stops this one at start with the reason.
 */
export async function checkAdvertised(advertised: string, keys: ClusterKeys, selfId: string, timeoutMs = 5_000): Promise<void> {
  const where = `--advertise-url ${advertised}`;
  let answer: Response;
  try {
    answer = await fetch(`${advertised}${NODE_WHOAMI_PATH}`, {
      headers: { [HOP_HEADER]: keys.hopToken },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
  } catch (error) {
    throw new Error(
      `${where} does not reach this node, so no other node would: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`,
    );
  }
  const body = (await answer.json().catch(() => undefined)) as { id?: unknown } | undefined;
  if (answer.status === 403) throw new Error(`${where} reaches a berth node of another cluster (it refused this cluster's key)`);
  if (answer.status !== 200 || typeof body?.id !== 'string') throw new Error(`${where} answered HTTP ${answer.status}, not as a berth node`);
  if (body.id !== selfId) throw new Error(`${where} reaches another node of this cluster (${body.id}), not this one`);
}
