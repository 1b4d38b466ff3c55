import type { Context, Span, TextMapGetter } from '@opentelemetry/api';
import type * as SdkTrace from '@opentelemetry/sdk-trace';
import { isBerthError } from '../core/errors.ts';
import type { RequestHeaders } from '../core/inbound.ts';
import type { TraceExport } from '../core/trace-export.ts';
import type { Logger } from './logger.ts';
import { currentScope, inScope } from './request-scope.ts';
import { type SpanAttributes, type SpanOptions, type TraceSpan, type Tracing } from './tracing.ts';

/** Reads a request's headers for the propagators. */
const HEADERS: TextMapGetter<RequestHeaders> = {
  keys: (carrier) => {
    const keys: string[] = [];
    carrier.forEach((_value, name) => keys.push(name));
    return keys;
  },
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

/**
 * Tracing with OpenTelemetry's SDK, loaded only here (with tracing off berth never imports it). Nothing is
 * registered globally: contexts travel in berth's request scope, so two nodes in one process (tests) keep theirs
 * apart. The trace a request carries is continued from W3C `traceparent` (which wins) or AWS's `X-Amzn-Trace-Id`;
 * what berth passes on is W3C's.
 */
export async function startOtelTracing(settings: TraceExport, logger: Logger): Promise<Tracing> {
  const [api, core, sdk, resources, xray, exporters] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/propagator-aws-xray'),
    settings.protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  // The SDK reports failed exports on its diagnostic channel: an operator must hear that spans are not arriving.
  api.diag.setLogger(
    {
      error: (message, ...args) => logger.warn('tracing: export failed', { detail: [message, ...args.map(String)].join(' ') }),
      warn: (message, ...args) => logger.warn('tracing', { detail: [message, ...args.map(String)].join(' ') }),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    { logLevel: api.DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const exporter = new exporters.OTLPTraceExporter({ url: settings.url, headers: { ...settings.headers }, timeoutMillis: settings.timeoutMs });
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({ ...settings.resourceAttributes, 'service.name': settings.serviceName }),
    sampler: samplerOf(sdk, settings),
    spanProcessors: [
      new sdk.BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: settings.batchDelayMs,
        maxQueueSize: settings.maxQueue,
        maxExportBatchSize: Math.min(512, settings.maxQueue),
      }),
    ],
  });
  const tracer = provider.getTracer('berth');
  const extractor = new core.CompositePropagator({
    // Later propagators overwrite what earlier ones found: W3C's context wins over AWS's when a request has both.
    propagators: [new xray.AWSXRayPropagator(), new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()],
  });
  const injector = new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] });
  const { SpanKind, SpanStatusCode, ROOT_CONTEXT, trace } = api;

  class OtelSpan implements TraceSpan {
    readonly span: Span;
    readonly context: Context;
    constructor(span: Span, context: Context) {
      this.span = span;
      this.context = context;
    }
    rename(name: string): void {
      this.span.updateName(name);
    }
    set(attributes: SpanAttributes): void {
      this.span.setAttributes(defined(attributes));
    }
    event(name: string, attributes?: SpanAttributes): void {
      this.span.addEvent(name, attributes && defined(attributes));
    }
    fail(error: unknown): void {
      // The message only: a stack names berth's files, and an exception's text can carry what the caller sent.
      const type = isBerthError(error) ? error.code : typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'internal';
      this.span.setAttribute('error.type', type);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: isBerthError(error) ? error.message : type });
    }
    end(): void {
      this.span.end();
    }
    propagation(): Record<string, string> {
      const out: Record<string, string> = {};
      injector.inject(this.context, out, api.defaultTextMapSetter);
      return out;
    }
  }

  const currentContext = (): Context => (currentScope()?.trace as Context | undefined) ?? ROOT_CONTEXT;
  const start = (name: string, attributes?: SpanAttributes, options: SpanOptions = {}): OtelSpan => {
    const parent = currentContext();
    const span = tracer.startSpan(
      name,
      {
        kind: options.kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL,
        ...(attributes ? { attributes: defined(attributes) } : {}),
        ...(options.startTime !== undefined ? { startTime: options.startTime } : {}),
      },
      parent,
    );
    return new OtelSpan(span, trace.setSpan(parent, span));
  };
  const within = <T>(span: TraceSpan, fn: () => T): T => {
    const scope = currentScope();
    if (!(span instanceof OtelSpan) || !scope) return fn();
    const { traceId, spanId } = span.span.spanContext();
    return inScope({ notes: scope.notes, trace: span.context, traceIds: { traceId, spanId } }, fn);
  };

  return {
    enabled: true,
    serve(name, headers, notes, fn) {
      const parent = extractor.extract(ROOT_CONTEXT, headers, HEADERS);
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
      const context = trace.setSpan(parent, span);
      const { traceId, spanId } = span.spanContext();
      return inScope({ notes, trace: context, traceIds: { traceId, spanId } }, () => fn(new OtelSpan(span, context)));
    },
    start,
    around(name, attributes, fn) {
      const span = start(name, attributes);
      return within(span, fn).then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          span.fail(error);
          span.end();
          throw error;
        },
      );
    },
    within,
    shutdown: async () => {
      await provider.shutdown();
    },
  };
}

function samplerOf(sdk: typeof SdkTrace, settings: TraceExport): SdkTrace.Sampler {
  const ratio = new sdk.TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case 'always_on':
      return new sdk.AlwaysOnSampler();
    case 'always_off':
      return new sdk.AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: ratio });
    default:
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
  }
}

/** The attributes that have a value: OpenTelemetry drops undefined ones with a warning each. */
function defined(attributes: SpanAttributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
