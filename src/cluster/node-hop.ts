import { Readable } from 'node:stream';
import { NodeAnswer, type AnswerHeaders } from '../core/answer.ts';
import { BerthError } from '../core/errors.ts';
import { jsonResponse } from '../core/http.ts';
import { Http1Client, netConnector } from '../core/http1-client.ts';
import type { Inbound } from '../core/inbound.ts';
import type { WebRoute } from '../core/router.ts';
import { isHopToken, type ClusterKeys } from './cluster-keys.ts';

/** Where a node says who it is, to the nodes of its cluster only. */
export const NODE_WHOAMI_PATH = '/internal/v1/node';
/** The header one node shows another on the internal hop. */
export const HOP_HEADER = 'x-berth-hop';
/** The epoch of the session's holding the forwarding node saw. */
export const HOP_EPOCH_HEADER = 'x-berth-hop-epoch';
/** Headers that belong to one connection, which a hop does not pass on (nor a client's own claim to be a node). */
const NOT_PASSED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'host', 'proxy-connection', HOP_HEADER, HOP_EPOCH_HEADER]);
/** How long a connection to another node is kept idle. */
const IDLE_MS = 30_000;

/**
 * The hop from this node to the node that holds a session: the client's request passed on as it came (its body
 * streamed, its own credentials kept, which the owner checks again), with the hop token and the epoch seen; the
 * owner's answer passed back as it comes. A client that goes away closes the hop's connection, which the owner
 * takes as cancellation.
 */
export class NodeHop {
  readonly #keys: ClusterKeys;
  readonly #clients = new Map<string, Http1Client>();

  constructor(keys: ClusterKeys) {
    this.#keys = keys;
  }

  /** Whether `inbound` came from another node of the cluster: it is served here, never passed on again. */
  isHop(inbound: Pick<Inbound, 'headers'>): boolean {
    return isHopToken(this.#keys, inbound.headers.get(HOP_HEADER));
  }

  async forward(inbound: Inbound, ownerUrl: string, epoch: number): Promise<NodeAnswer> {
    const headers: Record<string, string> = {};
    inbound.headers.forEach((value, name) => {
      if (!NOT_PASSED.has(name)) headers[name] = value;
    });
    const owner = new URL(ownerUrl);
    headers.host = owner.host;
    headers[HOP_HEADER] = this.#keys.hopToken;
    headers[HOP_EPOCH_HEADER] = String(epoch);
    const hasBody = inbound.headers.has('content-length') || inbound.headers.has('transfer-encoding');
    const body = hasBody ? (inbound.nodeBody() ?? (inbound.request.body ? Readable.fromWeb(inbound.request.body as never) : undefined)) : undefined;
    let answer;
    try {
      answer = await this.#client(owner).request({
        method: inbound.method,
        path: `${inbound.url.pathname}${inbound.url.search}`,
        headers,
        body,
        keepBody: true,
        signal: inbound.signal,
      });
    } catch (error) {
      throw new BerthError(
        'sandbox_unavailable',
        `the node holding this session (${ownerUrl}) does not answer: ${(error as Error).message}; retry in a moment`,
        {
          cause: error,
          retryAfter: 1,
        },
      );
    }
    const out: AnswerHeaders = {};
    for (const [name, value] of Object.entries(answer.headers)) if (!NOT_PASSED.has(name) && value !== undefined) out[name] = value;
    return new NodeAnswer(answer.statusCode, out, answer.whole ?? answer.body);
  }

  #client(owner: URL): Http1Client {
    let client = this.#clients.get(owner.origin);
    if (!client) {
      const port = Number(owner.port || (owner.protocol === 'https:' ? 443 : 80));
      client = new Http1Client(netConnector({ host: owner.hostname, port }), { idleMs: IDLE_MS, peer: `node ${owner.origin}` });
      this.#clients.set(owner.origin, client);
    }
    return client;
  }
}

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
