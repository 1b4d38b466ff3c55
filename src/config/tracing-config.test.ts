import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../core/errors.ts';
import { tracingConfig } from './tracing-config.ts';

test('tracing is off unless an OTLP endpoint is named, and off when OpenTelemetry says so', () => {
  assert.equal(tracingConfig({}), undefined);
  assert.equal(tracingConfig({ BERTH_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), undefined);
  assert.equal(tracingConfig({ BERTH_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), undefined);
});

test('the endpoint: a base URL gets /v1/traces, the traces URL is used as it is; defaults follow OpenTelemetry', () => {
  const berth = tracingConfig({ BERTH_OTLP_ENDPOINT: 'http://collector:4318/' });
  assert.equal(berth?.url, 'http://collector:4318/v1/traces');
  assert.equal(berth?.protocol, 'http/protobuf');
  assert.equal(berth?.serviceName, 'berth');
  assert.equal(berth?.sampler, 'parentbased_always_on');
  assert.equal(tracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/otlp/traces' })?.url, 'https://c/otlp/traces');
  assert.equal(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })?.url, 'http://c:4318/v1/traces');
  const full = tracingConfig({
    BERTH_OTLP_ENDPOINT: 'http://c:4318',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=a%20b,tenant=t1',
    OTEL_SERVICE_NAME: 'edge-1',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
  });
  assert.equal(full?.protocol, 'http/json');
  assert.deepEqual(full?.headers, { 'x-api-key': 'a b', tenant: 't1' });
  assert.equal(full?.serviceName, 'edge-1');
  assert.deepEqual(full?.resourceAttributes, { 'deployment.environment': 'prod' });
  assert.equal(full?.sampler, 'traceidratio');
  assert.equal(full?.samplerRatio, 0.25);
});

test('bad settings are refused by name, and a refused header list is never echoed (it holds API keys)', () => {
  const refusal = (env: Record<string, string>): string => {
    try {
      tracingConfig(env);
    } catch (error) {
      assert.ok(isBerthError(error));
      return error.message;
    }
    throw new Error('accepted');
  };
  assert.match(refusal({ BERTH_OTLP_ENDPOINT: 'collector:4318' }), /BERTH_OTLP_ENDPOINT must be an http/);
  assert.match(refusal({ BERTH_OTLP_ENDPOINT: 'ftp://c' }), /BERTH_OTLP_ENDPOINT/);
  assert.match(refusal({ BERTH_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /not gRPC/);
  assert.match(refusal({ BERTH_OTLP_ENDPOINT: 'http://c', OTEL_TRACES_SAMPLER_ARG: '2' }), /OTEL_TRACES_SAMPLER_ARG/);
  assert.match(refusal({ BERTH_OTLP_ENDPOINT: 'http://c', OTEL_TRACES_EXPORTER: 'zipkin' }), /otlp or none/);
  const headers = refusal({ BERTH_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_HEADERS: 'secret-key-123' });
  assert.match(headers, /OTEL_EXPORTER_OTLP_HEADERS/);
  assert.doesNotMatch(headers, /secret-key-123/);
});
