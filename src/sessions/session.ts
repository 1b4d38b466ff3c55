import type { LimitRecord, Sandbox, SandboxExit, SandboxSpec } from '../sandbox/driver.ts';
import type { RequestRecord } from '../core/request-record.ts';

/** What a session runs: one runtime version, how to start its sandbox, and its lifecycle. */
export interface SessionTarget {
  runtime: string;
  version: number;
  sandbox: Omit<SandboxSpec, 'id'>;
  idleTimeoutSeconds: number;
  maxLifetimeSeconds: number;
}

export type SessionState = 'starting' | 'ready' | 'stopping';

/** Who a session belongs to: `key` binds it (no other principal may use it); `userId` is what its server is told. */
export interface SessionPrincipal {
  key: string;
  userId: string;
}
/**
 * Why a session ended. `unclaimed`: berth made it for a request that named no session, and no later request came back
 * to it within the node's grace. `start-failed`: its sandbox never became ready (`error` says why). `node-lost`: the
 * node of a cluster that held it died, and another node took its id over with a fresh sandbox.
 */
export type EndReason = 'stopped' | 'idle' | 'unclaimed' | 'lifetime' | 'sandbox-exit' | 'start-failed' | 'shutdown' | 'node-lost';

export interface SessionInfo {
  id: string;
  runtime: string;
  version: number;
  /** The user id of the principal the session belongs to (`anonymous` on a runtime without an authorizer). */
  principal: string;
  state: SessionState;
  createdAt: string;
  lastActiveAt: string;
  /** Requests in flight right now. */
  inFlight: number;
  /** Calls whose client owes answers to the server's questions (MRTR); the session is not idle while any do. */
  waitingForInput: number;
  /** An http agent whose `/ping` says `HealthyBusy` (background work); the session is not idle while it does. */
  busy: boolean;
  idleTimeoutSeconds: number;
  maxLifetimeSeconds: number;
  /** Made for a request that named no session, and no request has come back to it yet: it ends after a short grace. */
  unclaimed: boolean;
  sandboxId: string;
  /** The driver that made the sandbox. */
  driver: string;
  /** Host pid of the sandbox's outermost process. */
  pid?: number;
  memoryBytes?: number;
  /** CPU time its sandbox has used, in seconds, where the driver counts it. */
  cpuSeconds?: number;
  /** The limits the session's sandbox has run into, once each: what it did (ended, throttled, refused), when, how often. */
  limits: LimitRecord[];
  /** Requests it has served. */
  requestCount: number;
  /** Its latest requests, oldest first (at most RECENT_REQUESTS). */
  recentRequests: RequestRecord[];
}

export type { RequestRecord } from '../core/request-record.ts';

/** How many of a session's latest requests it keeps for the console. */
export const RECENT_REQUESTS = 100;

export interface EndedSession {
  id: string;
  runtime: string;
  version: number;
  principal: string;
  endedAt: string;
  reason: EndReason;
  /** The node of a cluster that held it (`node-lost`: the node that died). */
  node?: string;
  exit?: SandboxExit;
  /** Why its sandbox did not start (reason `start-failed`): the error its first request got. */
  error?: { code: string; message: string };
  limits: LimitRecord[];
}

/** A claim on a session's sandbox for one request; `release` it when the request's answer is over. */
export interface Lease {
  readonly sessionId: string;
  readonly sandbox: Sandbox;
  /** Who the session belongs to, which is who this request is from. */
  readonly principal: SessionPrincipal;
  /** True when this request made the session. */
  readonly created: boolean;
  release(): void;
}

/**
 * One live session as the manager holds it. The manager, its timers and its ended records share this record (it is
 * never handed out); callers see `SessionInfo`, a copy.
 */
export interface Session {
  id: string;
  principal: SessionPrincipal;
  target: SessionTarget;
  sandboxId: string;
  state: SessionState;
  createdAt: number;
  lastActiveAt: number;
  inFlight: number;
  /** See SessionInfo.unclaimed. */
  unclaimed: boolean;
  requestCount: number;
  /** A ring of the latest requests: `requests[(requestCount - 1) % RECENT_REQUESTS]` is the newest. */
  requests: RequestRecord[];
  sandbox?: Sandbox;
  /** The sandbox's start, which concurrent first requests share. */
  ready: Promise<Sandbox>;
  /** Its sandbox came from a warm pool, started before the session. */
  pooled: boolean;
  idleTimer?: NodeJS.Timeout;
  lifetimeTimer?: NodeJS.Timeout;
  ending?: Promise<void>;
}

/** Idle as DESIGN.md means it: ready, nothing in flight, no call waiting on its client, no agent busy. */
export function isQuiet(session: Session): boolean {
  const activity = session.sandbox?.activity;
  return session.state === 'ready' && session.inFlight === 0 && (activity === undefined || (activity.waiting === 0 && !activity.busy));
}

/** What a caller may see of a live session; `defaultDriver` made its sandbox unless its runtime names another. */
export function describeSession(session: Session, defaultDriver: string): SessionInfo {
  const { target, sandbox } = session;
  const info: SessionInfo = {
    id: session.id,
    runtime: target.runtime,
    version: target.version,
    principal: session.principal.userId,
    state: session.state,
    createdAt: new Date(session.createdAt).toISOString(),
    lastActiveAt: new Date(session.lastActiveAt).toISOString(),
    inFlight: session.inFlight,
    waitingForInput: sandbox?.activity.waiting ?? 0,
    busy: sandbox?.activity.busy ?? false,
    idleTimeoutSeconds: target.idleTimeoutSeconds,
    maxLifetimeSeconds: target.maxLifetimeSeconds,
    unclaimed: session.unclaimed,
    sandboxId: session.sandboxId,
    driver: target.sandbox.driver ?? defaultDriver,
    limits: sandbox?.limits() ?? [],
    requestCount: session.requestCount,
    recentRequests:
      session.requestCount <= RECENT_REQUESTS
        ? [...session.requests]
        : [...session.requests.slice(session.requestCount % RECENT_REQUESTS), ...session.requests.slice(0, session.requestCount % RECENT_REQUESTS)],
  };
  if (sandbox) {
    info.pid = sandbox.pid;
    const { memoryBytes, cpuSeconds } = sandbox.stats();
    if (memoryBytes !== undefined) info.memoryBytes = memoryBytes;
    if (cpuSeconds !== undefined) info.cpuSeconds = cpuSeconds;
  }
  return info;
}
