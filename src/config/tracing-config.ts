import { BerthError } from '../core/errors.ts';
import type { TraceExport } from '../core/trace-export.ts';
import { decimal, integer, oneOf, type Env, type Source } from './values.ts';

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;

/**
 * Where berth sends its spans, from `BERTH_OTLP_ENDPOINT` and OpenTelemetry's standard variables; undefined (tracing
 * off, the default) when no endpoint is named, or `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` say off.
 *
 * - The collector: `BERTH_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: spans go to `/v1/traces`
 *   under it), or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the traces URL itself), in that order.
 * - `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`: `http/protobuf` (default) or `http/json`; berth does not speak gRPC.
 * - `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` (`key=value,…`, values URL-encoded), `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`.
 * - `OTEL_SERVICE_NAME` (default `berth`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `_ARG`,
 *   `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`.
 */
export function tracingConfig(env: Env): TraceExport | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  if (env.OTEL_TRACES_EXPORTER !== undefined && env.OTEL_TRACES_EXPORTER.trim() !== 'otlp') {
    if (env.OTEL_TRACES_EXPORTER.trim() === 'none') return undefined;
    throw invalidSetting({ name: 'OTEL_TRACES_EXPORTER', value: env.OTEL_TRACES_EXPORTER }, 'otlp or none (berth exports spans over OTLP/HTTP)');
  }
  const url = tracesUrl(env);
  if (url === undefined) return undefined;
  const pick = (name: string): Source => {
    const traces = `OTEL_EXPORTER_OTLP_TRACES_${name}`;
    return env[traces] !== undefined ? { name: traces, value: env[traces] } : { name: `OTEL_EXPORTER_OTLP_${name}`, value: env[`OTEL_EXPORTER_OTLP_${name}`] };
  };
  const protocol = pick('PROTOCOL');
  if (protocol.value === 'grpc') throw invalidSetting(protocol, 'http/protobuf or http/json: berth exports OTLP over HTTP, not gRPC');
  return {
    url,
    protocol: oneOf(protocol, 'http/protobuf', ['http/protobuf', 'http/json'] as const),
    headers: keyValues(pick('HEADERS')),
    timeoutMs: integer(pick('TIMEOUT'), 10_000, 1, 600_000),
    serviceName: env.OTEL_SERVICE_NAME?.trim() || 'berth',
    resourceAttributes: keyValues({ name: 'OTEL_RESOURCE_ATTRIBUTES', value: env.OTEL_RESOURCE_ATTRIBUTES }),
    sampler: oneOf({ name: 'OTEL_TRACES_SAMPLER', value: env.OTEL_TRACES_SAMPLER }, 'parentbased_always_on', SAMPLERS),
    samplerRatio: decimal({ name: 'OTEL_TRACES_SAMPLER_ARG', value: env.OTEL_TRACES_SAMPLER_ARG }, 1, 0, 1),
    batchDelayMs: integer({ name: 'OTEL_BSP_SCHEDULE_DELAY', value: env.OTEL_BSP_SCHEDULE_DELAY }, 5000, 0, 600_000),
    maxQueue: integer({ name: 'OTEL_BSP_MAX_QUEUE_SIZE', value: env.OTEL_BSP_MAX_QUEUE_SIZE }, 2048, 1, 1_000_000),
  };
}

function tracesUrl(env: Env): string | undefined {
  const base = (source: Source): string => `${httpUrl(source).replace(/\/+$/, '')}/v1/traces`;
  if (env.BERTH_OTLP_ENDPOINT !== undefined) return base({ name: 'BERTH_OTLP_ENDPOINT', value: env.BERTH_OTLP_ENDPOINT });
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined)
    return httpUrl({ name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', value: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT });
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined) return base({ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  return undefined;
}

function httpUrl(source: Source): string {
  let url: URL;
  try {
    url = new URL((source.value ?? '').trim());
  } catch {
    throw invalidSetting(source, 'an http:// or https:// URL of an OTLP collector, such as http://collector:4318');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidSetting(source, 'an http:// or https:// URL of an OTLP collector');
  return url.href;
}

/** `key=value,…` with URL-encoded values, as OpenTelemetry's variables give headers and resource attributes. */
function keyValues(source: Source): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (source.value ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at).trim() : '';
    if (key === '') throw invalidSetting(source, 'a comma-separated list of key=value pairs');
    try {
      out[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      throw invalidSetting(source, 'key=value pairs whose values are URL-encoded');
    }
  }
  return out;
}

/** Like values.ts's refusals, but never echoing the value: OTLP headers carry collectors' API keys. */
function invalidSetting(source: Source, expected: string): BerthError {
  return new BerthError('validation_failed', `${source.name} must be ${expected}`, { details: { setting: source.name } });
}
