/**
 * Where and how berth exports its spans: OTLP over HTTP. config/tracing-config.ts builds it from the environment;
 * observability/otel-tracing.ts exports with it.
 */
export interface TraceExport {
  /** The collector's traces URL, such as `http://collector:4318/v1/traces`. */
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  headers: Readonly<Record<string, string>>;
  serviceName: string;
  resourceAttributes: Readonly<Record<string, string>>;
  sampler: 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';
  samplerRatio: number;
  /** How long spans wait to be sent in a batch (`OTEL_BSP_SCHEDULE_DELAY`). */
  batchDelayMs: number;
  /** Spans held for export at most; past it new ones are dropped (`OTEL_BSP_MAX_QUEUE_SIZE`). */
  maxQueue: number;
  /** How long one export may take (`OTEL_EXPORTER_OTLP_TIMEOUT`). */
  timeoutMs: number;
}
