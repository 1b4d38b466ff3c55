import type { Metrics } from './metrics.ts';
import type { RequestNotes } from './request-scope.ts';

/**
 * MCP methods a label may name (every revision's, client to server); any other a client sends is `other`, so that
 * a client inventing methods cannot make series.
 */
const MCP_METHODS = new Set([
  'initialize',
  'ping',
  'server/discover',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'subscriptions/listen',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/update',
  'tasks/cancel',
  'tasks/list',
  'tasks/result',
]);

/** The `method` label of a request: its MCP method if a known one, `notification` or `response` for those, else `other`. */
export function methodLabel(method: string | undefined): string {
  if (method === undefined) return '';
  if (MCP_METHODS.has(method)) return method;
  if (method.startsWith('notifications/')) return 'notification';
  return method === 'response' ? 'response' : 'other';
}

export type StartKind = 'cold' | 'pooled';

/**
 * berth's own metric families, named and labelled in one place (Prometheus conventions: base units, `_total` on
 * counters, `runtime` rather than anything per session). Labels are runtime names (which the operator deploys), and
 * closed sets: methods (methodLabel), error codes, limits, start kinds.
 */
export class BerthMetrics {
  readonly registry: Metrics;
  readonly #duration;
  readonly #errors;
  readonly #starts;
  readonly #startDuration;
  readonly #rounds;
  readonly #limits;

  constructor(registry: Metrics) {
    this.registry = registry;
    this.#duration = registry.histogram(
      'berth_request_duration_seconds',
      "Time from a runtime's request arriving to its answer's last byte, by runtime, door and MCP method.",
    );
    this.#errors = registry.counter('berth_request_errors_total', 'Requests to a runtime that berth failed, by runtime, door and error code.');
    this.#starts = registry.counter('berth_session_starts_total', 'Sessions started, by runtime, kind (cold or pooled) and outcome (ok or failed).');
    this.#startDuration = registry.histogram(
      'berth_session_start_duration_seconds',
      "Time from a session's first request to its sandbox being ready, by runtime and kind (cold or pooled).",
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    this.#rounds = registry.counter(
      'berth_input_rounds_total',
      'Rounds in which a server asked the client for input (MRTR input_required answers sent), by runtime.',
    );
    this.#limits = registry.counter('berth_limit_hits_total', 'Times sandboxes ran into one of their limits, by runtime, limit and what it did.');
  }

  /** One request to a runtime's door, once its answer is over. */
  request(notes: RequestNotes, seconds: number): void {
    const runtime = notes.runtime;
    if (runtime === undefined) return;
    const door = notes.door ?? '';
    this.#duration({ runtime, door, method: methodLabel(notes.method) }, seconds);
    if (notes.error !== undefined) this.#errors({ runtime, door, code: notes.error });
  }

  sessionStarted(runtime: string, kind: StartKind, seconds: number): void {
    this.#starts({ runtime, kind, outcome: 'ok' });
    this.#startDuration({ runtime, kind }, seconds);
  }

  sessionStartFailed(runtime: string, kind: StartKind): void {
    this.#starts({ runtime, kind, outcome: 'failed' });
  }

  inputRound(runtime: string): void {
    this.#rounds({ runtime });
  }

  limitHit(runtime: string, limit: string, effect: string): void {
    this.#limits({ runtime, limit, effect });
  }
}
