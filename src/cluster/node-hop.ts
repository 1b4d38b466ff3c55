import { openTunnel, type TunnelAnswer } from '../core/tunnel.ts';
import { Readable } from 'node:stream';
import { NodeAnswer, type AnswerHeaders } from '../core/answer.ts';
import { noTracing, type Tracing } from '../observability/tracing.ts';
import { BerthError } from '../core/errors.ts';
import { HOP_BY_HOP_HEADERS, jsonResponse } from '../core/http.ts';
import { Http1Client, netConnector } from '../core/http1-client.ts';
import type { Inbound } from '../core/inbound.ts';
import { readUpTo } from '../core/read-up-to.ts';
import type { WebRoute } from '../core/router.ts';
import { NODE_SESSIONS_PATH, sessionsQueryOf, type SessionsQuery } from './cluster-sessions.ts';
import { isHopToken, type ClusterKeys } from './cluster-keys.ts';

/** Where a node says who it is, to the nodes of its cluster only. */
export const NODE_WHOAMI_PATH = '/internal/v1/node';
/** The header one node shows another on the internal hop. */
export const HOP_HEADER = 'x-berth-hop';
/** The epoch of the session's holding the forwarding node saw. */
export const HOP_EPOCH_HEADER = 'x-berth-hop-epoch';
/** Who the forwarding node admitted the request as: the owner takes its word and admits nobody twice. */
export const HOP_PRINCIPAL_HEADER = 'x-berth-hop-principal';
/**
 * Headers that belong to one connection, which a hop does not pass on (nor a client's own claim to be a node). The
 * Host goes on as the client sent it: the owner checks it as the first node did, and a signature covers it.
 */
const NOT_PASSED = new Set<string>([...HOP_BY_HOP_HEADERS, HOP_HEADER, HOP_EPOCH_HEADER, HOP_PRINCIPAL_HEADER]);

/** Who a request is from, as the node that admitted it passes it on. */
export interface HopPrincipal {
  key: string;
  userId: string;
}

/** What a forwarded request carries besides the client's own request. */
export interface HopExtras {
  /** The epoch of the holding the forwarding node saw (0: none in particular). */
  epoch: number;
  /** Who the forwarding node admitted the request as; absent for the admin's /v1 routes, which the owner checks. */
  principal?: HopPrincipal;
  /** The body, when the forwarding node already read it whole. */
  body?: Uint8Array;
  /** Headers to set on the forwarded request (the session a body named). */
  headers?: Record<string, string>;
  /** Aborts when the node passed to is seen to die: the hop stops waiting on it (a frozen node never answers). */
  lost?: AbortSignal;
}
/** How long a connection to another node is kept idle. */
const IDLE_MS = 30_000;
/** How long a node waits to connect to another: nodes of a cluster are near each other. */
const CONNECT_TIMEOUT_MS = 3_000;
/** How long the owner has to answer an upgrade passed on to it (its sandbox may be starting). */
const UPGRADE_TIMEOUT_MS = 60_000;
/** The most a node reads of another's answer to one of its internal routes. */
const MAX_ASKED_BYTES = 64 * 1024 * 1024;

/**
 * The hop from this node to the node that holds a session: the client's request passed on as it came (its body
 * streamed, its own credentials kept, which the owner checks again), with the hop token and the epoch seen; the
 * owner's answer passed back as it comes. A client that goes away closes the hop's connection, which the owner
 * takes as cancellation.
 */
export class NodeHop {
  readonly #keys: ClusterKeys;
  readonly #clients = new Map<string, Http1Client>();
  readonly #tracing: Tracing;

  constructor(keys: ClusterKeys, tracing: Tracing = noTracing) {
    this.#keys = keys;
    this.#tracing = tracing;
  }

  /** Whether `inbound` came from another node of the cluster: it is served here, never passed on again. */
  isHop(inbound: Pick<Inbound, 'headers'>): boolean {
    return isHopToken(this.#keys, inbound.headers.get(HOP_HEADER));
  }

  /**
   * The principal a node of the cluster admitted `inbound` as, when it came over the hop with one: the request is
   * not authenticated or counted against a rate limit again. A client's own such header is a client's, and ignored.
   */
  principalOf(inbound: Pick<Inbound, 'headers'>): HopPrincipal | undefined {
    const given = inbound.headers.get(HOP_PRINCIPAL_HEADER);
    if (given === null || !this.isHop(inbound)) return undefined;
    try {
      const parsed = JSON.parse(Buffer.from(given, 'base64url').toString('utf8')) as Partial<HopPrincipal> | null;
      if (typeof parsed?.key === 'string' && typeof parsed.userId === 'string') return { key: parsed.key, userId: parsed.userId };
    } catch {
      // Not what a node sends: the request is admitted as any client's.
    }
    return undefined;
  }

  async forward(inbound: Inbound, ownerUrl: string, extras: HopExtras): Promise<NodeAnswer> {
    const headers = this.#hopHeaders(inbound, extras);
    const owner = new URL(ownerUrl);
    // The owner's spans of the request continue the trace as children of the hop.
    const span = this.#tracing.start('berth.node.hop', { 'server.address': owner.host, 'http.request.method': inbound.method }, { kind: 'client' });
    if (this.#tracing.enabled) Object.assign(headers, span.propagation());
    let body: Readable | Uint8Array | undefined;
    // The client writes a whole body's own length.
    if (extras.body) body = extras.body;
    else if (inbound.headers.has('content-length') || inbound.headers.has('transfer-encoding')) {
      body = inbound.nodeBody() ?? (inbound.request.body ? Readable.fromWeb(inbound.request.body as never) : undefined);
    }
    const { signal, done } = eitherSignal(inbound.signal, extras.lost);
    let answer;
    try {
      answer = await this.#client(owner).request({
        method: inbound.method,
        path: `${inbound.url.pathname}${inbound.url.search}`,
        headers,
        body,
        keepBody: true,
        signal,
      });
    } catch (error) {
      done();
      span.fail(error);
      span.end();
      if (extras.lost?.aborted) {
        throw new BerthError(
          'sandbox_unavailable',
          `the node holding this session (${ownerUrl}) stopped answering and left the cluster; retry, and a live node takes it over`,
          {
            cause: error,
            retryAfter: 1,
          },
        );
      }
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
    // The node passed to may still die while its answer streams: the watch lasts as long as the answer does.
    span.set({ 'http.response.status_code': answer.statusCode });
    const over = (): void => {
      done();
      span.end();
    };
    if (answer.whole) over();
    else answer.body.once('close', over);
    return new NodeAnswer(answer.statusCode, out, answer.whole ?? answer.body);
  }

  /** Asks the node at `nodeUrl` one of its internal routes, and answers the JSON it answers with. */
  async ask(nodeUrl: string, path: string, timeoutMs: number): Promise<unknown> {
    const node = new URL(nodeUrl);
    const answer = await this.#client(node).request({
      method: 'GET',
      path,
      headers: { host: node.host, [HOP_HEADER]: this.#keys.hopToken },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = answer.whole ?? (await readUpTo(answer.body, MAX_ASKED_BYTES));
    if (!Buffer.isBuffer(body)) {
      answer.body.destroy();
      throw body instanceof Error ? body : new Error(`the node at ${node.origin} answered more than ${MAX_ASKED_BYTES} bytes`);
    }
    if (answer.statusCode !== 200) throw new Error(`the node at ${node.origin} answered HTTP ${answer.statusCode}`);
    return JSON.parse(body.toString('utf8'));
  }

  /**
   * An upgrade (a WebSocket) passed on to the owner on a connection of its own, which becomes the client's once the
   * owner agrees: resolves with the owner's 101 and its connection, or its refusal. The owner checks the client's
   * frames; this node only joins the connections.
   */
  async upgrade(inbound: Inbound, ownerUrl: string, extras: HopExtras): Promise<TunnelAnswer> {
    const headers = this.#hopHeaders(inbound, extras);
    headers.upgrade = inbound.headers.get('upgrade') ?? 'websocket';
    const owner = new URL(ownerUrl);
    const port = Number(owner.port || (owner.protocol === 'https:' ? 443 : 80));
    const { signal, done } = eitherSignal(inbound.signal, extras.lost);
    try {
      return await openTunnel(
        netConnector({ host: owner.hostname, port }, CONNECT_TIMEOUT_MS),
        { path: `${inbound.url.pathname}${inbound.url.search}`, headers },
        signal,
        UPGRADE_TIMEOUT_MS,
      );
    } catch (error) {
      throw new BerthError(
        'sandbox_unavailable',
        `the node holding this session (${ownerUrl}) did not take the connection: ${(error as Error).message}; retry in a moment`,
        {
          cause: error,
          retryAfter: 1,
        },
      );
    } finally {
      done();
    }
  }

  /** The client's headers as a hop passes them on, with the hop's own. */
  #hopHeaders(inbound: Inbound, extras: HopExtras): Record<string, string> {
    const headers: Record<string, string> = {};
    inbound.headers.forEach((value, name) => {
      if (!NOT_PASSED.has(name)) headers[name] = value;
    });
    headers[HOP_HEADER] = this.#keys.hopToken;
    headers[HOP_EPOCH_HEADER] = String(extras.epoch);
    if (extras.principal) headers[HOP_PRINCIPAL_HEADER] = Buffer.from(JSON.stringify(extras.principal)).toString('base64url');
    Object.assign(headers, extras.headers);
    return headers;
  }

  #client(owner: URL): Http1Client {
    let client = this.#clients.get(owner.origin);
    if (!client) {
      const port = Number(owner.port || (owner.protocol === 'https:' ? 443 : 80));
      client = new Http1Client(netConnector({ host: owner.hostname, port }, CONNECT_TIMEOUT_MS), { idleMs: IDLE_MS, peer: `node ${owner.origin}` });
      this.#clients.set(owner.origin, client);
    }
    return client;
  }
}

/** What a node of a cluster tells the others about itself. */
export interface NodeSelf {
  /** Its id and advertised URL. */
  self: () => { id: string; url: string };
  /** One page of its own sessions. */
  sessions: (query: SessionsQuery) => unknown[];
}

/**
 * A signal that aborts with either of two, and its end: the listeners it puts on them are taken off by `done`, so a
 * long-lived `lost` signal (one per node) gathers none from the requests that used it.
 */
function eitherSignal(first: AbortSignal, second: AbortSignal | undefined): { signal: AbortSignal; done: () => void } {
  if (second === undefined) return { signal: first, done: () => {} };
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  if (first.aborted || second.aborted) abort();
  first.addEventListener('abort', abort, { once: true });
  second.addEventListener('abort', abort, { once: true });
  const done = (): void => {
    first.removeEventListener('abort', abort);
    second.removeEventListener('abort', abort);
  };
  return { signal: controller.signal, done };
}

/** The internal routes a node of a cluster serves to the others, each refusing a caller without the hop token. */
export function nodeHopRoutes(keys: ClusterKeys, node: NodeSelf): WebRoute[] {
  const nodesOnly = (request: Request): void => {
    if (!isHopToken(keys, request.headers.get(HOP_HEADER))) {
      throw new BerthError('forbidden', "berth's internal routes are for the nodes of its cluster, which show the hop token derived from BERTH_CLUSTER_KEY");
    }
  };
  return [
    {
      method: 'GET',
      pattern: NODE_WHOAMI_PATH,
      handler: (request) => {
        nodesOnly(request);
        return jsonResponse(200, node.self());
      },
    },
    {
      method: 'GET',
      pattern: NODE_SESSIONS_PATH,
      handler: (request, _params, url) => {
        nodesOnly(request);
        const query = sessionsQueryOf(url);
        if (!query) throw new BerthError('validation_failed', `${NODE_SESSIONS_PATH} takes limit (1 to 10000), and runtime and after`);
        return jsonResponse(200, node.sessions(query));
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
