import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from './metrics.ts';

test('renders counters with labels and gauges read at render time', () => {
  const metrics = new Metrics();
  const requests = metrics.counter('berth_requests_total', 'Requests.');
  requests({ route: 'mcp', status: '200' });
  requests({ route: 'mcp', status: '200' }, 2);
  let live = 1;
  metrics.gauge('berth_sessions_live', 'Live sessions.', () => live);
  let sent = 7;
  metrics.counted('berth_store_statements_total', 'Statements.', () => sent);
  live = 4;
  sent = 9;
  const text = metrics.render();
  assert.match(text, /^berth_store_statements_total 9$/m);
  assert.match(text, /# TYPE berth_store_statements_total counter/);
  assert.match(text, /^berth_requests_total\{route="mcp",status="200"\} 3$/m);
  assert.match(text, /^berth_sessions_live 4$/m);
  assert.match(text, /# TYPE berth_requests_total counter/);
});

test('histograms count into cumulative buckets with their sum and count; collected families give a series per label set', () => {
  const metrics = new Metrics();
  const took = metrics.histogram('berth_took_seconds', 'Time taken.', [0.01, 0.1, 1]);
  took({ runtime: 'a' }, 0.005);
  took({ runtime: 'a' }, 0.05);
  took({ runtime: 'a' }, 5);
  took({ runtime: 'b' }, 0.1);
  metrics.gauge('berth_things', 'Things.', () => [
    [{ runtime: 'a', state: 'idle' }, 2],
    [{ runtime: 'b', state: 'busy' }, 1],
  ]);
  const text = metrics.render();
  assert.match(text, /# TYPE berth_took_seconds histogram/);
  assert.match(text, /^berth_took_seconds_bucket\{runtime="a",le="0.01"\} 1$/m);
  assert.match(text, /^berth_took_seconds_bucket\{runtime="a",le="0.1"\} 2$/m);
  assert.match(text, /^berth_took_seconds_bucket\{runtime="a",le="1"\} 2$/m);
  assert.match(text, /^berth_took_seconds_bucket\{runtime="a",le="\+Inf"\} 3$/m);
  assert.match(text, /^berth_took_seconds_sum\{runtime="a"\} 5.055$/m);
  assert.match(text, /^berth_took_seconds_count\{runtime="a"\} 3$/m);
  // A value on a bucket's bound is inside it (Prometheus' `le`).
  assert.match(text, /^berth_took_seconds_bucket\{runtime="b",le="0.1"\} 1$/m);
  assert.match(text, /^berth_things\{runtime="a",state="idle"\} 2$/m);
  assert.match(text, /^berth_things\{runtime="b",state="busy"\} 1$/m);
});

test('label values are escaped, so a runtime name cannot break the text format', () => {
  const metrics = new Metrics();
  metrics.counter('berth_x_total', 'X.')({ runtime: 'a"b\\c\nd' });
  assert.match(metrics.render(), /^berth_x_total\{runtime="a\\"b\\\\c\\nd"\} 1$/m);
});
