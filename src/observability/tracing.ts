import type { RequestHeaders } from '../core/inbound.ts';
import { inScope, type RequestNotes } from './request-scope.ts';

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** One span: annotated while it runs, ended by whoever started it. */
export interface TraceSpan {
  /** Names the span once what it is for is known (a server span by its route). */
  rename(name: string): void;
  set(attributes: SpanAttributes): void;
  event(name: string, attributes?: SpanAttributes): void;
  /** Marks the span failed with `error`; its `code` (a BerthError's, or any string `code`) becomes `error.type`. */
  fail(error: unknown): void;
  end(): void;
  /** W3C headers (`traceparent`, `tracestate`, `baggage`) that make what their receiver does a child of this span. */
  propagation(): Record<string, string>;
}

export interface SpanOptions {
  kind?: 'internal' | 'client';
  /** When the span began (ms since the epoch), for work that began before berth could know it (a client's wait). */
  startTime?: number;
}

/**
 * berth's tracer. With tracing off (the default) it is `noTracing`, which still gives every request its scope (its
 * notes feed metrics and logs) and otherwise does nothing; the OpenTelemetry SDK is loaded only when an OTLP
 * endpoint is set (./otel-tracing.ts).
 */
export interface Tracing {
  readonly enabled: boolean;
  /**
   * Runs `fn` in a new request scope whose span (kind server) continues the trace `headers` carry: W3C
   * `traceparent`/`tracestate`/`baggage`, or AWS's `X-Amzn-Trace-Id`.
   */
  serve<T>(name: string, headers: RequestHeaders, notes: RequestNotes, fn: (span: TraceSpan) => T): T;
  /** A child of the current span, ended by its caller. */
  start(name: string, attributes?: SpanAttributes, options?: SpanOptions): TraceSpan;
  /** Runs `fn` inside a child of the current span, which ends when `fn` settles (failed, if it throws). */
  around<T>(name: string, attributes: SpanAttributes | undefined, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` with `span` current, so that the spans it starts are its children. */
  within<T>(span: TraceSpan, fn: () => T): T;
  /** Sends what is left and stops. */
  shutdown(): Promise<void>;
}

export const NO_SPAN: TraceSpan = {
  rename: () => {},
  set: () => {},
  event: () => {},
  fail: () => {},
  end: () => {},
  propagation: () => ({}),
};

export const noTracing: Tracing = {
  enabled: false,
  serve: (_name, _headers, notes, fn) => inScope({ notes, trace: undefined }, () => fn(NO_SPAN)),
  start: () => NO_SPAN,
  around: (_name, _attributes, fn) => fn(),
  within: (_span, fn) => fn(),
  shutdown: async () => {},
};
