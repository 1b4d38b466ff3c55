/**
 * `/metrics`, read by Prometheus' own text-format parser and checked by `promtool check metrics`: each family moves
 * as what it counts happens (session starts cold and pooled, requests by method, a call waiting for its client's
 * input, MRTR rounds, errors by code, a limit hit, load shed, sandbox memory and CPU), and nothing is labelled by
 * session, so series do not grow with sessions.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession, rawCall, toolText } from '../helpers/mcp.ts';
import { parseMetrics, prometheusToolsMissing, promtoolProblems, type Sample, type Scrape } from '../helpers/prometheus.ts';
import { waitFor } from '../helpers/wait.ts';

const ELICIT = { elicitation: { form: {} } };

describe('metrics', { skip: BwrapDriver.unsupportedReason() ?? prometheusToolsMissing() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    await deploy(node, 'legacy', await fixtureDir('legacy-counter-server'), { transport: 'stdio' });
    await deploy(node, 'small', await fixtureDir('counter-server'), { transport: 'stdio', limits: { pids: 24 } });
  });
  after(async () => {
    await node?.stop();
  });

  const scrape = async (target = node): Promise<Scrape> => {
    const response = await fetch(`${target.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.equal(promtoolProblems(text), '', 'promtool finds nothing to say');
    return parseMetrics(text);
  };

  test('a call that asks its client moves starts, durations, the waiting state, rounds and errors', async () => {
    const before = await scrape();
    const session = randomUUID();
    const asking = await rawCall(node.url, 'legacy', 'tools/call', 'ask_name', {}, { sessionId: session, capabilities: ELICIT });
    assert.equal(asking.response.result?.resultType, 'input_required', JSON.stringify(asking.response));

    // While the server waits for the client, its session says so.
    const waiting = await scrape();
    assert.equal(waiting.value('berth_sessions', { runtime: 'legacy', state: 'waiting_for_input' }), 1);
    assert.equal(waiting.value('berth_input_rounds_total', { runtime: 'legacy' }) - before.value('berth_input_rounds_total', { runtime: 'legacy' }), 1);
    const cold = { runtime: 'legacy', kind: 'cold', outcome: 'ok' };
    assert.equal(waiting.value('berth_session_starts_total', cold) - before.value('berth_session_starts_total', cold), 1);
    assert.equal(
      waiting.value('berth_session_start_duration_seconds_count', { runtime: 'legacy', kind: 'cold' }) -
        before.value('berth_session_start_duration_seconds_count', { runtime: 'legacy', kind: 'cold' }),
      1,
    );
    assert.ok(waiting.value('berth_session_start_duration_seconds_sum', { runtime: 'legacy', kind: 'cold' }) > 0);

    const key = Object.keys((asking.response.result?.inputRequests ?? {}) as Record<string, unknown>)[0] as string;
    const answered = await rawCall(
      node.url,
      'legacy',
      'tools/call',
      'ask_name',
      {},
      {
        sessionId: session,
        capabilities: ELICIT,
        params: { inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } }, requestState: asking.response.result?.requestState },
      },
    );
    assert.deepEqual(toolText(answered), { action: 'accept', name: 'Ada' });
    const refused = await rawCall(
      node.url,
      'legacy',
      'tools/call',
      'ask_name',
      {},
      { sessionId: session, capabilities: ELICIT, params: { requestState: 'forged' } },
    );
    assert.equal(refused.status, 400);

    const after = await scrape();
    const calls = { runtime: 'legacy', door: 'mcp', method: 'tools/call' };
    assert.equal(after.value('berth_request_duration_seconds_count', calls) - before.value('berth_request_duration_seconds_count', calls), 3);
    assert.ok(after.value('berth_request_duration_seconds_bucket', { ...calls, le: '+Inf' }) >= 3);
    const invalid = { runtime: 'legacy', door: 'mcp', code: 'request_state_invalid' };
    assert.equal(after.value('berth_request_errors_total', invalid) - before.value('berth_request_errors_total', invalid), 1);
    assert.equal(after.value('berth_sessions', { runtime: 'legacy', state: 'waiting_for_input' }), 0);
    assert.equal(after.value('berth_sessions', { runtime: 'legacy', state: 'idle' }), 1);
    // The sandbox's memory and CPU, by runtime; the node's capacity.
    assert.ok(after.value('berth_sandbox_memory_bytes', { runtime: 'legacy' }) > 1024 * 1024);
    assert.ok(after.value('berth_sandbox_cpu_seconds_total', { runtime: 'legacy' }) > 0);
    assert.equal(after.value('berth_node_session_capacity'), 2000);
    assert.equal(after.families.get('berth_request_duration_seconds'), 'histogram');
    assert.equal(after.families.get('berth_session_starts'), 'counter');
  });

  test('a pooled start is counted as pooled', async () => {
    await deploy(node, 'pooled', await fixtureDir('counter-server'), { transport: 'stdio', warmPool: { size: 1 } });
    await waitFor(async () => ((await (await node.admin('/v1/runtimes/pooled')).json()) as { warmPool?: { ready: number } }).warmPool?.ready === 1, 'the pool');
    const answer = await rawCall(node.url, 'pooled', 'tools/call', 'increment', {}, { sessionId: randomUUID() });
    assert.deepEqual(toolText(answer), { count: 1 });
    const pooled = await scrape();
    assert.equal(pooled.value('berth_session_starts_total', { runtime: 'pooled', kind: 'pooled', outcome: 'ok' }), 1);
    assert.equal(pooled.value('berth_session_start_duration_seconds_count', { runtime: 'pooled', kind: 'pooled' }), 1);
  });

  test('a limit a sandbox runs into is counted by runtime, limit and effect', async () => {
    const bomb = await connectSession(node.url, 'small');
    try {
      await bomb.call('fork_bomb', { n: 60 });
      await waitFor(
        async () => (await scrape()).value('berth_limit_hits_total', { runtime: 'small', limit: 'pids', effect: 'refused' }) >= 1,
        'the pids limit hit',
      );
    } finally {
      await bomb.close();
    }
  });

  test('series do not grow with sessions: no label names a session, and a new series names only closed sets', async () => {
    const key = (sample: Sample): string => `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    const warm = randomUUID();
    await rawCall(node.url, 'legacy', 'tools/call', 'increment', {}, { sessionId: warm });
    const before = new Set((await scrape()).samples.map(key));
    const sessions: string[] = [randomUUID(), randomUUID(), randomUUID()];
    for (const session of sessions) await rawCall(node.url, 'legacy', 'tools/call', 'increment', {}, { sessionId: session });
    const after = await scrape();
    // Sessions alike make the same series. A new one may still come of something that happened meanwhile (a
    // sandbox held back at its CPU share under load): its labels are then the runtime's and closed sets' only.
    const RUNTIMES = new Set(['legacy', 'small', 'pooled']);
    const CLOSED = /^(state|kind|outcome|door|method|code|limit|effect|reason|route|status|le)$/;
    for (const sample of after.samples.filter((s) => s.name.startsWith('berth_') && !before.has(key(s)))) {
      for (const [label, value] of Object.entries(sample.labels)) {
        assert.ok(label === 'runtime' ? RUNTIMES.has(value) : CLOSED.test(label), `${key(sample)} is a new series of something open`);
      }
    }
    for (const sample of after.samples) {
      for (const [label, value] of Object.entries(sample.labels)) {
        assert.ok(!/session/.test(label), `${sample.name} has a session label`);
        assert.ok(!sessions.includes(value) && value !== warm, `${sample.name} names a session`);
      }
    }
  });

  test('load shed is counted by reason', async () => {
    const small = await startBerth({ env: { BERTH_MAX_STARTING: '1', BERTH_START_QUEUE: '0' } });
    try {
      await deploy(small, 'counter', await fixtureDir('counter-server'), { transport: 'stdio' });
      const answers = await Promise.all(
        Array.from({ length: 6 }, () => rawCall(small.url, 'counter', 'tools/call', 'increment', {}, { sessionId: randomUUID() })),
      );
      const shed = answers.filter((answer) => answer.status === 503).length;
      assert.ok(shed > 0, `some of six new sessions at once are shed: ${answers.map((a) => a.status).join(',')}`);
      assert.equal((await scrape(small)).value('berth_load_shed_total', { reason: 'start_queue_full' }), shed);
    } finally {
      await small.stop();
    }
  });
});
