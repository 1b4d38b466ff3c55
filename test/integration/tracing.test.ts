/**
 * Traces: a node with an OTLP endpoint exports its spans to a receiver the test starts. One MCP call to a legacy
 * server that asks its client a question (an MRTR round) is one trace, continued from the client's traceparent:
 * the edge's spans, the lease, the sandbox's start, each call into the sandbox, the round's wait, and the server's
 * own span inside the call, joined through the trace context berth passes in `_meta`. No attribute carries a secret.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { BedrockAgentCoreClient, InvokeAgentRuntimeCommand } from '@aws-sdk/client-bedrock-agentcore';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { AWS_ENV, AWS_KEYS } from '../helpers/aws.ts';
import { rawCall, toolText as toolResult } from '../helpers/mcp.ts';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../helpers/postgres.ts';
import { parseMetrics, prometheusToolsMissing, type Scrape } from '../helpers/prometheus.ts';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const SERVER = 2;
const CLIENT = 3;

describe('tracing', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let receiver: OtlpReceiver;
  let node: BerthNode;
  const secret = `s3cret-${randomUUID()}`;
  before(async () => {
    receiver = await OtlpReceiver.start();
    node = await startBerth({ env: { ...AWS_ENV, BERTH_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_SERVICE_NAME: 'berth-under-test' } });
    await deploy(node, 'traced', await fixtureDir('traced-legacy-server'), {
      transport: 'stdio',
      command: 'node server.js',
      // The server exports its own span to the same receiver, on the host's loopback.
      network: { mode: 'host' },
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` },
      secretEnv: { BOOKING_API_KEY: secret },
    });
  });
  after(async () => {
    await node?.stop();
    await receiver?.close();
  });

  test("one call with an elicitation round is one trace, continued from the client's, with the server's span inside", async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const session = randomUUID();
    const client = new Client(
      { name: 'trace-test', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { ok: true } }));
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${node.url}/runtimes/traced/mcp`), {
        requestInit: { headers: { [SESSION_HEADER]: session, traceparent: `00-${traceId}-${clientSpan}-01`, baggage: 'tenant=acme' } },
      }),
    );
    let result;
    try {
      result = await client.callTool({ name: 'book', arguments: {} });
    } finally {
      await client.close();
    }
    assert.deepEqual(JSON.parse((result.content as Array<{ text: string }>)[0]?.text ?? 'null'), { booked: true, trace: traceId });

    const named = (name: string): ReceivedSpan[] => receiver.trace(traceId).filter((span) => span.name === name);
    const edge = (): ReceivedSpan[] => named('POST /runtimes/:name/mcp').filter((span) => span.attributes['mcp.method.name'] === 'tools/call');
    await waitFor(
      () =>
        edge().length === 2 &&
        named('book a table').length === 1 &&
        named('mcp.input_round').length === 1 &&
        edge().every((e) => named('berth.sandbox.call').some((call) => call.parentSpanId === e.spanId)),
      "the call's spans at the receiver",
      15_000,
    );
    assert.deepEqual(receiver.refused, []);
    const spans = receiver.trace(traceId);
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const parentOf = (span: ReceivedSpan | undefined): ReceivedSpan | undefined => span && byId.get(span.parentSpanId);

    // The edge's spans continue the client's: children of its span, server spans, annotated, never failed.
    const [asked, answered] = edge().sort((a, b) => (a.startNanos < b.startNanos ? -1 : 1));
    for (const span of [asked, answered]) {
      assert.ok(span);
      assert.equal(span.parentSpanId, clientSpan);
      assert.equal(span.kind, SERVER);
      assert.equal(span.service, 'berth-under-test');
      assert.equal(span.attributes['berth.runtime'], 'traced');
      assert.equal(span.attributes['berth.runtime.version'], 1);
      assert.equal(span.attributes['mcp.session.id'], session);
      assert.equal(span.attributes['gen_ai.tool.name'], 'book');
      assert.equal(span.attributes['enduser.id'], 'anonymous');
      assert.equal(span.attributes['http.response.status_code'], 200);
      assert.match(String(span.attributes['berth.request.id']), /^req_/);
      assert.notEqual(span.status.code, 2);
    }
    assert.ok(asked && answered);

    // Each has its lease and its call into the sandbox; the first call's answer asked for input.
    const childrenOf = (parent: ReceivedSpan, name: string): ReceivedSpan[] =>
      spans.filter((span) => span.parentSpanId === parent.spanId && span.name === name);
    for (const span of [asked, answered]) {
      assert.equal(childrenOf(span, 'berth.session.lease').length, 1);
      assert.equal(childrenOf(span, 'berth.sandbox.call').length, 1);
    }
    const firstCall = childrenOf(asked, 'berth.sandbox.call')[0];
    assert.equal(firstCall?.kind, CLIENT);
    assert.ok(firstCall?.events.some((event) => event.name === 'mcp.input_required'));

    // The round: from the input_required answer to the client's answers, inside the request that brought them.
    const [round] = named('mcp.input_round');
    assert.equal(parentOf(round), answered);
    assert.ok(round && round.startNanos < answered.startNanos && round.endNanos >= answered.startNanos);

    // The session's sandbox started (cold) under the lease of the session's first request, in this trace.
    const [start] = named('berth.sandbox.start');
    assert.ok(start, 'a span of the sandbox start');
    assert.equal(start.attributes['berth.sandbox.pooled'], false);
    assert.equal(parentOf(start)?.name, 'berth.session.lease');

    // The server's own span is the child of the call that reached it, with the baggage the client sent.
    const [own] = named('book a table');
    assert.equal(own?.service, 'traced-legacy-server');
    assert.equal(parentOf(own), firstCall);
    assert.equal(own?.attributes['booking.confirmed'], true);
    assert.equal(own?.attributes.tenant, 'acme');

    // Nothing secret: not the runtime's secret, not a requestState, not a token.
    const everything = JSON.stringify(receiver.spans.map(({ attributes, events, status }) => ({ attributes, events, status })));
    assert.ok(!everything.includes(secret));
    assert.ok(!everything.includes('requestState'));
    assert.ok(!/authorization|bearer/i.test(everything));
  });

  test("a legacy client's call is traced too: its question round, and the server's span under the call that reached it", async () => {
    const traceId = randomBytes(16).toString('hex');
    const client = new LegacyClient({ name: 'legacy-trace-test', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { ok: true } }));
    await client.connect(
      new LegacyTransport(new URL(`${node.url}/runtimes/traced/mcp`), {
        requestInit: { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } },
      }),
    );
    try {
      const result = await client.callTool({ name: 'book', arguments: {} });
      assert.deepEqual(JSON.parse((result.content as Array<{ text: string }>)[0]?.text ?? 'null'), { booked: true, trace: traceId });
    } finally {
      await client.close();
    }
    const named = (name: string): ReceivedSpan[] => receiver.trace(traceId).filter((span) => span.name === name);
    const calls = (): ReceivedSpan[] => named('berth.sandbox.call').filter((span) => span.attributes['mcp.method.name'] === 'tools/call');
    // The call, and the call again with the answers.
    await waitFor(
      () =>
        named('book a table').length === 1 &&
        named('mcp.input_round').length === 1 &&
        calls().length === 2 &&
        receiver.trace(traceId).some((span) => span.kind === SERVER && span.attributes['mcp.method.name'] === 'tools/call'),
      "the legacy call's spans",
      15_000,
    );
    assert.ok(calls().some((call) => call.spanId === named('book a table')[0]?.parentSpanId));
    const [round] = named('mcp.input_round');
    assert.ok(round && receiver.trace(traceId).some((span) => span.kind === SERVER && span.spanId === round.parentSpanId));
  });

  test("AgentCore's X-Amzn-Trace-Id (the AWS SDK's traceId) is continued", async () => {
    const root = randomBytes(16).toString('hex');
    const parent = randomBytes(8).toString('hex');
    const { id } = (await (await node.admin('/v1/runtimes/traced')).json()) as { id: string };
    const client = new BedrockAgentCoreClient({ endpoint: node.url, region: 'us-east-1', credentials: AWS_KEYS });
    const message = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
    };
    const answer = await client.send(
      new InvokeAgentRuntimeCommand({
        agentRuntimeArn: id,
        runtimeSessionId: randomUUID(),
        payload: new TextEncoder().encode(JSON.stringify(message)),
        contentType: 'application/json',
        accept: 'application/json, text/event-stream',
        mcpProtocolVersion: '2026-07-28',
        mcpMethod: 'tools/list',
        traceId: `Root=1-${root.slice(0, 8)}-${root.slice(8)};Parent=${parent};Sampled=1`,
      }),
    );
    assert.match((await answer.response?.transformToString()) ?? '', /book/);
    client.destroy();
    await waitFor(() => receiver.trace(root).some((span) => span.kind === SERVER), "the request's span in the AWS trace", 15_000);
    const edgeSpan = receiver.trace(root).find((span) => span.kind === SERVER);
    assert.equal(edgeSpan?.parentSpanId, parent);
    assert.equal(edgeSpan?.attributes['mcp.method.name'], 'tools/list');
  });

  test('a failed request has its span too, saying why, and names no runtime that does not exist', async () => {
    const traceId = randomBytes(16).toString('hex');
    const answer = await rawCall(node.url, 'no-such-runtime', 'tools/list', undefined, undefined, {
      headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    });
    assert.equal(answer.status, 404, JSON.stringify(answer.response));
    await waitFor(() => receiver.trace(traceId).length === 1, "the failed request's span", 15_000);
    const [span] = receiver.trace(traceId);
    assert.equal(span?.attributes['error.type'], 'runtime_not_found');
    assert.equal(span?.attributes['berth.runtime'], undefined, 'no runtime is named that does not exist');
  });
});

describe('tracing across a cluster', { skip: BwrapDriver.unsupportedReason() ?? postgresUnsupportedReason() ?? false }, () => {
  let receiver: OtlpReceiver;
  let postgres: Postgres;
  let cluster: Cluster;
  before(async () => {
    receiver = await OtlpReceiver.start();
    postgres = await startPostgres();
    cluster = await startCluster(postgres, 2, { BERTH_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' });
    const artifactId = await cluster.upload(await fixtureDir('counter-server'));
    await cluster.nodes[0]?.api.deploy('counter', { artifactId, command: 'node server.js stdio', transport: 'stdio', env: {} });
  });
  after(async () => {
    await cluster?.stop();
    await postgres?.stop();
    await receiver?.close();
  });

  test("a request to the node that does not hold its session: the hop is a span, and the holder's spans are its children", async () => {
    const [holder, other] = cluster.nodes as [BerthNode, BerthNode];
    const session = randomUUID();
    assert.deepEqual(toolResult(await rawCall(holder.url, 'counter', 'tools/call', 'increment', {}, { sessionId: session })), { count: 1 });
    const traceId = randomBytes(16).toString('hex');
    const answer = await rawCall(
      other.url,
      'counter',
      'tools/call',
      'increment',
      {},
      {
        sessionId: session,
        headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      },
    );
    assert.deepEqual(toolResult(answer), { count: 2 });
    const named = (name: string): ReceivedSpan[] => receiver.trace(traceId).filter((span) => span.name === name);
    // Each node's server span ends with its answer, the first node's last.
    const servers = (): ReceivedSpan[] => receiver.trace(traceId).filter((span) => span.kind === SERVER);
    await waitFor(
      () => named('berth.node.hop').length === 1 && named('berth.sandbox.call').length === 1 && servers().length === 2,
      "the hop, the call and both nodes' spans",
      15_000,
    );
    const [hop] = named('berth.node.hop');
    const first = servers().find((span) => span.spanId === hop?.parentSpanId);
    const second = servers().find((span) => span.parentSpanId === hop?.spanId);
    assert.ok(first, "the hop is the first node's");
    assert.ok(second, "the holder's span continues the hop");
    assert.equal(hop?.kind, CLIENT);
    assert.equal(named('berth.sandbox.call')[0]?.parentSpanId, second.spanId);
  });

  test("each node's /metrics says how many nodes are live and whether it holds its lease", { skip: prometheusToolsMissing() ?? false }, async () => {
    for (const node of cluster.nodes) {
      const scrape = async (): Promise<Scrape> => parseMetrics(await (await fetch(`${node.url}/metrics`)).text());
      // As the node last saw the cluster: its view catches up with a member that joined after it within a renewal.
      await waitFor(async () => (await scrape()).value('berth_cluster_nodes_live') === 2, `${node.url} to see both nodes`);
      const scraped = await scrape();
      assert.equal(scraped.value('berth_node_lease_held'), 1);
      assert.equal(scraped.value('berth_node_session_capacity'), 2000);
    }
  });
});
