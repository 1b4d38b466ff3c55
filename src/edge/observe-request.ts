import type { Readable } from 'node:stream';
import { NodeAnswer, type Answer } from '../core/answer.ts';
import type { Inbound } from '../core/inbound.ts';
import type { BerthMetrics } from '../observability/berth-metrics.ts';
import { newRequestId, type RequestNotes } from '../observability/request-scope.ts';
import type { TraceSpan, Tracing } from '../observability/tracing.ts';

export interface RequestObserver {
  tracing: Tracing;
  metrics: BerthMetrics;
  /** Hears each request once its answer is over (a session's record of its requests). */
  over?: (notes: RequestNotes, status: number, seconds: number, startedAt: number) => void;
}

/** What the edge made of a request: the route it matched and its answer. */
export interface Routed {
  route: string;
  answer: Answer;
}

/**
 * Runs one request in its own scope (its notes, its server span) and, once its answer's last byte is out (a
 * streamed answer's body closes), records its duration and outcome in metrics and ends its span.
 */
export async function observeRequest(observer: RequestObserver, inbound: Inbound, handle: () => Promise<Routed>): Promise<Answer> {
  const notes: RequestNotes = { requestId: newRequestId() };
  const { tracing } = observer;
  return tracing.serve(inbound.method, inbound.headers, notes, async (span) => {
    const started = performance.now();
    const startedAt = Date.now();
    const { route, answer } = await handle();
    const over = (): void => {
      notes.over = true;
      const seconds = (performance.now() - started) / 1000;
      observer.metrics.request(notes, seconds);
      observer.over?.(notes, answer.status, seconds, startedAt);
      if (tracing.enabled) endServerSpan(span, inbound, route, answer.status, notes);
    };
    const body = answer instanceof NodeAnswer ? answer.body : null;
    if (body !== null && !Buffer.isBuffer(body)) whenClosed(body, over);
    else over();
    return answer;
  });
}

function whenClosed(body: Readable, over: () => void): void {
  if (body.closed || body.destroyed) over();
  else body.once('close', over);
}

/** The server span's name and attributes (OpenTelemetry's HTTP and MCP conventions), never a credential. */
function endServerSpan(span: TraceSpan, inbound: Inbound, route: string, status: number, notes: RequestNotes): void {
  span.rename(`${inbound.method} ${route}`);
  span.set({
    'http.request.method': inbound.method,
    'http.route': route,
    'http.response.status_code': status,
    'berth.request.id': notes.requestId,
    'berth.door': notes.door,
    'berth.runtime': notes.runtime,
    'berth.runtime.version': notes.version,
    'berth.endpoint': notes.endpoint,
    'mcp.session.id': notes.session,
    'mcp.method.name': notes.method,
    'gen_ai.tool.name': notes.tool,
    'enduser.id': notes.user,
  });
  // A client's mistake (4xx) is not the server span's failure (OpenTelemetry's HTTP conventions); its code is kept.
  if (status >= 500) span.fail({ code: notes.error ?? 'internal' });
  else if (notes.error !== undefined) span.set({ 'error.type': notes.error });
  span.end();
}
