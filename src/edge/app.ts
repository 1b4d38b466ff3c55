import { toResponse, type Answer } from '../core/answer.ts';
import { BerthError, isBerthError, toBerthError } from '../core/errors.ts';
import { errorResponse, jsonResponse } from '../core/http.ts';
import { inboundOf, type Inbound } from '../core/inbound.ts';
import { Router, type Handler, type InboundHandler, type Route, type WebRoute } from '../core/router.ts';
import type { RuntimeService } from '../control/runtimes.ts';
import { v1Routes, type V1Options } from '../control/v1.ts';
import type { Logger } from '../observability/logger.ts';
import type { BerthMetrics } from '../observability/berth-metrics.ts';
import { notes, type RequestNotes } from '../observability/request-scope.ts';
import type { Tracing } from '../observability/tracing.ts';
import { observeRequest } from './observe-request.ts';
import { consoleRoutes } from './console/console-assets.ts';
import { consoleSessionRoutes } from './console/console-session.ts';
import type { SessionManager } from '../sessions/manager.ts';
import { createMcpEndpoint } from './mcp/endpoint.ts';
import { rpcErrorResponse } from './mcp/rpc-errors.ts';
import { CallerAdmission } from './pipeline/admission.ts';
import { SessionLeases } from './pipeline/lease.ts';
import type { Caller, CallerHandler } from './pipeline/caller.ts';
import { LegacyFacade } from './mcp/legacy-facade.ts';
import { DiscoverCache } from './mcp/discover-cache.ts';
import { warmDiscovers } from './mcp/discover-warm.ts';
import type { LegacyClientLimits } from './mcp/legacy-kept.ts';
import { checkHost } from './host-check.ts';
import { createInvocationsEndpoint } from './invocations.ts';
import { createCommandsEndpoint } from './commands.ts';
import type { AwsIdentity } from './agentcore/arn.ts';
import { isAwsSigned, type AwsAuth } from './agentcore/auth.ts';
import { controlPlaneRoutes } from './agentcore/control-plane.ts';
import { dataPlaneRoutes } from './agentcore/data-plane.ts';
import { awsErrorResponse } from './agentcore/errors.ts';
import type { RequestStateSealer } from '../mcp/request-state.ts';
import type { Authenticator } from './auth/authenticator.ts';
import { RateLimiter, type RateShares } from './rate-limit.ts';
import { admitAdmin } from './auth/admin.ts';
import type { SessionScope } from './auth/session-scope.ts';
import type { ApiKeyService } from '../control/api-keys.ts';
import type { NpmInstaller } from '../store/npm-install.ts';
import type { NodeDirectory } from '../cluster/nodes.ts';
import type { NodeHop } from '../cluster/node-hop.ts';
import type { SessionOwners } from '../cluster/session-owners.ts';
import { OwnerRoute } from './pipeline/owner-route.ts';
import { createAgentCardDoor } from './agent-card.ts';
import type { FrameLimits } from './ws/frame-gate.ts';
import { createWebSocketDoor, sandboxSockets } from './ws/websocket-door.ts';
import { operatorShellRoute } from './ws/operator-shell.ts';
import { agentRoutes } from './ws/ws-routes.ts';

export interface EdgeOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  logger: Logger;
  metrics: BerthMetrics;
  /** Spans of every request and the steps under it; `noTracing` when tracing is off. */
  tracing: Tracing;
  maxBodyBytes: number;
  /** What each WebSocket client may send through berth. */
  webSocket: FrameLimits;
  maxArtifactBytes: number;
  /** Installs published servers from npm into artifacts, for `/v1`. */
  npm: NpmInstaller;
  sealer: RequestStateSealer;
  inputTimeoutMs: number;
  allowedHosts: readonly string[] | '*';
  aws: AwsApiOptions;
  authenticator: Authenticator;
  apiKeys: ApiKeyService;
  /** The session of a request that names none. */
  scope: SessionScope;
  /** What the edge keeps for a session's legacy clients, at most. */
  perSession: LegacyClientLimits;
  /** The nodes of this node's cluster, or this node alone (`/v1/nodes`). */
  nodes: NodeDirectory;
  /** The routes a node of a cluster serves the other nodes, behind their own check. */
  internalRoutes?: WebRoute[];
  /** This node's URL as sessions name their holder (`/v1/sessions`). */
  nodeUrl: () => string;
  /** The ended sessions' records in the store. */
  endedRecords?: V1Options['endedRecords'];
  /** The node's warm pools, shown with their runtimes. */
  warmPools?: V1Options['warmPools'];
  /** On a node of a cluster: one page of the whole cluster's sessions (`GET /v1/sessions`). */
  listSessions?: V1Options['listSessions'];
  /** On a node of a cluster: this node's share of each rate limit, so that the cluster holds it together. */
  rateShares?: RateShares;
  /** On a node of a cluster: where each session is held, and the hop to the node that holds it. */
  cluster?: { owners: SessionOwners; hop: NodeHop };
}

/** AgentCore's API: how callers are authenticated, and the region and account its ARNs name. */
export interface AwsApiOptions {
  auth: AwsAuth;
  identity: AwsIdentity;
}

const MCP_PATHS = ['/runtimes/:name/mcp', '/runtimes/:name/sessions/:sessionId/mcp'];

/** GET and DELETE without an MCP session are a 2026-07-28 client's mistake: the method is not allowed (405). */
function legacyStreamOr405({ headers, inbound }: Caller, serve: () => Answer | Promise<Answer>): Answer | Promise<Answer> {
  if (headers.get('mcp-session-id') !== null) return serve();
  return rpcErrorResponse(
    new BerthError('method_not_allowed', `${inbound.method} needs an Mcp-Session-Id from initialize; 2026-07-28 clients send each message as a POST`, {
      details: { allow: ['POST'] },
    }),
    null,
  );
}

/** berth's edge: every request in, as it arrived (core/inbound.ts); its answer out. */
export type Edge = (inbound: Inbound) => Promise<Answer>;

/**
 * berth's edge as one handler: the MCP endpoints, the `/v1` control plane, health and metrics.
 * Every failure leaves here in the wire shape its endpoint speaks (JSON-RPC for MCP, the REST error otherwise).
 */
export function createEdge(options: EdgeOptions): Edge {
  const { runtimes, sessions, logger, metrics, tracing } = options;
  const leases = new SessionLeases(sessions, tracing, options.cluster?.owners);
  const { scope } = options;
  const legacy = new LegacyFacade({ runtimes, sessions, leases, logger, inputTimeoutMs: options.inputTimeoutMs, scope, limits: options.perSession, tracing });
  const discovers = new DiscoverCache();
  // On a node of a cluster, a request whose session another node holds goes there once admitted, before its door.
  const { cluster } = options;
  const owners = cluster && new OwnerRoute(cluster.owners, cluster.hop);
  const mcp = createMcpEndpoint({
    runtimes,
    sessions,
    leases,
    maxBodyBytes: options.maxBodyBytes,
    logger,
    sealer: options.sealer,
    inputTimeoutMs: options.inputTimeoutMs,
    legacy,
    scope,
    discovers,
    tracing,
    metrics,
    ...(owners ? { toOwner: (caller, session, body) => owners.routeRead(caller, session, body) } : {}),
  });
  warmDiscovers({ runtimes, sessions, leases, discovers, logger });
  // Every route of a runtime goes through admission first: its handler takes the Caller admission makes, so a route
  // cannot reach one without it. AgentCore's InvokeAgentRuntime admits by its own rules and calls the same handlers.
  const admission = new CallerAdmission({
    runtimes,
    authenticator: options.authenticator,
    aws: options.aws.auth,
    identity: options.aws.identity,
    limiter: new RateLimiter(Date.now, options.rateShares),
    ...(cluster ? { vouched: (inbound: Inbound) => cluster.hop.principalOf(inbound) } : {}),
  });
  const toOwner = owners && ((caller: Caller) => owners.route(caller));
  // `readsBody`: the door places a request naming no session itself, once it has read the body (the MCP endpoint).
  const admitted =
    (handler: CallerHandler, readsBody = false): InboundHandler =>
    async (inbound, params) => {
      const caller = await admission.native(inbound, params);
      return (owners && (await owners.route(caller, readsBody))) || handler(caller);
    };
  // GET and DELETE belong to the stateful revisions: a legacy client's notification stream and session end.
  const legacyOnly =
    (handler: (caller: Caller) => Answer | Promise<Answer>): CallerHandler =>
    async (caller) => {
      notes().door = 'mcp';
      try {
        return await legacyStreamOr405(caller, () => handler(caller));
      } catch (error) {
        return rpcErrorResponse(toBerthError(error), null);
      }
    };
  const adminGuard = { apiKeys: options.apiKeys, aws: options.aws.auth };
  // On a node of a cluster, a session's own /v1 routes answer for a session another node holds by asking that node.
  const atHolder = (route: WebRoute): WebRoute => {
    if (!cluster || !route.pattern.startsWith('/v1/sessions/:id')) return route;
    return {
      ...route,
      handler: async (request, params, url) => {
        const id = params.id as string;
        const holder = sessions.has(id) || cluster.hop.isHop(request) ? undefined : await cluster.owners.holder(id);
        if (holder === undefined) return route.handler(request, params, url);
        return toResponse(await cluster.hop.forward(inboundOf(request, url), holder.url, { epoch: 0, lost: cluster.owners.lostSignal(holder.owner) }));
      },
    };
  };
  const adminOnly = (route: WebRoute): WebRoute => ({
    ...route,
    handler: async (request, params, url) => route.handler(await admitAdmin(request, url, adminGuard), params, url),
  });
  const protectedResource: Handler = async (_request, params, url) => {
    const name = params.name as string;
    const metadata = await options.authenticator.resourceMetadata(url, name, (await runtimes.find(name))?.version.spec.authorizer);
    if (!metadata)
      throw new BerthError('not_found', `runtime "${name}" takes no OAuth tokens (its authorizer is not jwt), so it has no protected resource metadata`);
    return jsonResponse(200, metadata);
  };
  const invocations = createInvocationsEndpoint({ runtimes, leases, maxBodyBytes: options.maxBodyBytes, logger, scope });
  const requests = metrics.registry.counter('berth_http_requests_total', 'HTTP requests answered by the edge, by route and status.');
  metrics.registry.gauge('berth_sessions_live', 'Live sessions on this node.', () => sessions.size);

  const mcpRoutes: Route[] = MCP_PATHS.flatMap((pattern) => [
    { method: 'POST', pattern, inbound: admitted(mcp, true) },
    { method: 'GET', pattern, inbound: admitted(legacyOnly((caller) => legacy.get(caller))) },
    { method: 'DELETE', pattern, inbound: admitted(legacyOnly((caller) => legacy.delete(caller))) },
  ]);
  const nativeInvocations = admitted(invocations);
  const frames = metrics.registry.counter('berth_websocket_frames_total', 'WebSocket frames through the edge, by door and direction.');
  const violations = metrics.registry.counter('berth_websocket_closed_total', 'WebSocket connections berth closed for a rule their client broke, by door.');
  const socketOptions = {
    limits: options.webSocket,
    onEnd: (door: 'ws' | 'shell', framesIn: number, framesOut: number, violation: string | undefined) => {
      frames({ door, direction: 'in' }, framesIn);
      frames({ door, direction: 'out' }, framesOut);
      if (violation !== undefined) violations({ door });
    },
  };
  const webSocket = createWebSocketDoor({ runtimes, leases, scope, logger, ...socketOptions });
  const agentCard = createAgentCardDoor({ runtimes, leases, scope, logger, isLive: (id) => sessions.has(id) });
  const router = new Router().add(
    ...mcpRoutes,
    ...dataPlaneRoutes({
      runtimes,
      sessions,
      leases,
      logger,
      admission,
      mcp,
      invocations,
      ...(toOwner ? { toOwner } : {}),
      nativeInvocations: (request, params, url) => nativeInvocations(inboundOf(request, url), params),
    }),
    ...agentRoutes({ admission, webSocket, agentCard, ...(toOwner ? { toOwner } : {}) }),
    operatorShellRoute({ sessions, guard: adminGuard, sockets: sandboxSockets(socketOptions) }),
    { method: 'POST', pattern: '/runtimes/:name/sessions/:sessionId/commands', inbound: admitted(createCommandsEndpoint({ runtimes, leases, logger })) },
    { method: 'GET', pattern: '/.well-known/oauth-protected-resource/runtimes/:name', handler: protectedResource },
    { method: 'GET', pattern: '/.well-known/oauth-protected-resource/runtimes/:name/mcp', handler: protectedResource },
    {
      method: 'GET',
      pattern: '/healthz',
      // A draining node answers 503, so its load balancer sends the next requests elsewhere.
      handler: () =>
        sessions.draining
          ? jsonResponse(503, { ok: false, draining: true, sessions: sessions.size })
          : jsonResponse(200, { ok: true, sessions: sessions.size }),
    },
    {
      method: 'GET',
      pattern: '/metrics',
      handler: () => new Response(metrics.registry.render(), { headers: { 'content-type': 'text/plain; version=0.0.4' } }),
    },
    ...consoleRoutes(),
    ...consoleSessionRoutes(options.apiKeys),
    ...v1Routes({
      runtimes,
      apiKeys: options.apiKeys,
      sessions,
      maxArtifactBytes: options.maxArtifactBytes,
      npm: options.npm,
      nodes: options.nodes,
      nodeUrl: options.nodeUrl,
      ...(options.listSessions ? { listSessions: options.listSessions } : {}),
      ...(options.endedRecords ? { endedRecords: options.endedRecords } : {}),
      ...(options.warmPools ? { warmPools: options.warmPools } : {}),
    })
      .map(atHolder)
      .map(adminOnly),
    ...(options.internalRoutes ?? []),
    ...controlPlaneRoutes({ runtimes, identity: options.aws.identity, auth: options.aws.auth, logger }),
  );

  const route = async (inbound: Inbound): Promise<{ route: string; answer: Answer }> => {
    const { url } = inbound;
    let route = 'unmatched';
    let response: Answer;
    try {
      // A node of the cluster names another by its advertised address, which need not be a name clients use.
      if (!cluster?.hop.isHop(inbound)) checkHost(inbound.headers, options.allowedHosts);
      const matched = router.match(inbound.method, url.pathname);
      route = matched.pattern;
      response = await matched.run(inbound);
    } catch (error) {
      if (!isBerthError(error)) logger.error('request failed', { method: inbound.method, path: url.pathname, err: error });
      notes().error ??= toBerthError(error).code;
      // MCP endpoints answer in JSON-RPC even when the request never reached one (whatever its Authorization claims);
      // AWS SDK callers get AgentCore's errors.
      const mcpPath = url.pathname.startsWith('/runtimes/') && url.pathname.endsWith('/mcp');
      response =
        !mcpPath && isAwsSigned(inbound)
          ? awsErrorResponse(error)
          : url.pathname.startsWith('/runtimes/')
            ? rpcErrorResponse(toBerthError(error), null)
            : errorResponse(error);
    }
    requests({ route, status: String(response.status) });
    return { route, answer: response };
  };
  const observer = {
    tracing,
    metrics,
    over: (notes: RequestNotes, status: number, seconds: number, startedAt: number): void => {
      if (notes.session === undefined) return;
      sessions.noteRequest(notes.session, {
        at: new Date(startedAt).toISOString(),
        method: notes.method ?? notes.door ?? '',
        status,
        ms: Math.round(seconds * 10_000) / 10,
        ...(notes.error === undefined ? {} : { error: notes.error }),
      });
    },
  };
  return (inbound) => observeRequest(observer, inbound, () => route(inbound));
}
