import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/**
 * What berth learns about one request as it goes through the edge: each step notes what it worked out (the
 * runtime once resolved, the session once keyed, the MCP method once classified, the error code once failed),
 * and the edge reads the notes when the answer is over, for the request's metrics, its span and its log lines.
 */
export interface RequestNotes {
  /** berth's id for the request: on every log line about it. */
  readonly requestId: string;
  /** The door the request came in by: `mcp`, `invocations` or `commands`. */
  door?: string;
  runtime?: string;
  version?: number;
  endpoint?: string;
  session?: string;
  /** The MCP method, as the client sent it (the metrics' label is one of a closed set: mcpMethodLabel). */
  method?: string;
  tool?: string;
  /** The caller's user id, never its token. */
  user?: string;
  /** The error code of a failed request (core/errors.ts). */
  error?: string;
  /**
   * The answer is over. Work the request started that goes on after (timers, background starts) still runs in its
   * scope, but is no longer about it: its log lines name no request, and what it notes goes nowhere.
   */
  over?: boolean;
}

/** One request's scope: its notes, and whatever the tracer keeps for its current span (opaque here). */
export interface RequestScope {
  readonly notes: RequestNotes;
  /** The tracer's context of the current span; undefined with tracing off. */
  readonly trace: unknown;
  /** The current trace's ids, for log lines; undefined with tracing off. */
  readonly traceIds?: { traceId: string; spanId: string };
}

const storage = new AsyncLocalStorage<RequestScope>();

/** The scope of the request this code runs for; undefined outside one (timers, the node's own work). */
export function currentScope(): RequestScope | undefined {
  return storage.getStore();
}

/** Runs `fn` (and everything it awaits or schedules) in `scope`. */
export function inScope<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** The notes of the current request; a throwaway record outside one, so a step may note without asking. */
export function notes(): RequestNotes {
  const found = storage.getStore()?.notes;
  return found && !found.over ? found : { requestId: '' };
}

/** Runs `fn` outside any request's scope: background work a request sets off but that is not about it. */
export function outsideRequest<T>(fn: () => T): T {
  return storage.exit(fn);
}

// Ids are a per-process prefix and a counter: unique across a node's restarts and cheap on the hot path.
const PREFIX = randomBytes(4).toString('hex');
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `req_${PREFIX}${counter.toString(36)}`;
}
