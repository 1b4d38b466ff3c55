/**
 * Every door of a runtime through a cluster of three nodes behind a plain round-robin balancer, where no two
 * requests in a row land on the same node: a legacy client's session (initialize, the server's questions answered
 * by POSTs that land elsewhere, the GET stream, DELETE), a 2026-07-28 client's input_required rounds whose retries
 * name their session only by requestState, and AgentCore's data plane through the AWS SDK (invocations, commands,
 * StopRuntimeSession). State follows each session to the one node that holds it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  BedrockAgentCoreClient,
  InvokeAgentRuntimeCommand,
  InvokeAgentRuntimeCommandCommand,
  StopRuntimeSessionCommand,
} from '@aws-sdk/client-bedrock-agentcore';
import { BedrockAgentCoreControlClient, CreateAgentRuntimeCommand } from '@aws-sdk/client-bedrock-agentcore-control';
import WebSocket from 'ws';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { SESSION_HEADER, type BerthNode } from '../helpers/berth.ts';
import { AWS_ENV, AWS_KEYS } from '../helpers/aws.ts';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession, rawCall } from '../helpers/mcp.ts';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../helpers/postgres.ts';
import { startRoundRobin, type RoundRobin } from '../helpers/round-robin.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawShell } from '../helpers/shell-client.ts';

const skip = BwrapDriver.unsupportedReason() ?? postgresUnsupportedReason() ?? false;
const ELICIT = { elicitation: { form: {} } };
/** The rate limit of the `limited` runtime: for the cluster, not for each node. */
const RATE = 2;
const BURST = 4;

function text(result: Record<string, unknown>): string {
  return (result.content as Array<{ text: string }>)[0]?.text ?? '';
}

/** Which nodes hold `session`, by the cluster's list as each node answers it: they must agree. */
async function holders(cluster: Cluster, session: string): Promise<string[]> {
  const seen = new Set<string>();
  for (const node of cluster.nodes) {
    const { sessions } = (await (await node.admin('/v1/sessions')).json()) as { sessions: Array<{ id: string; node: string }> };
    seen.add(JSON.stringify(sessions.filter((s) => s.id === session).map((s) => s.node)));
  }
  assert.equal(seen.size, 1, `every node lists the same holders of ${session}: ${[...seen].join(' vs ')}`);
  return JSON.parse([...seen][0] as string) as string[];
}

describe('every door of a runtime through a cluster behind a plain balancer', { skip }, () => {
  let postgres: Postgres;
  let cluster: Cluster;
  let balancer: RoundRobin;
  before(async () => {
    postgres = await startPostgres();
    cluster = await startCluster(postgres, 3, AWS_ENV);
    const [first] = cluster.nodes;
    const legacy = await cluster.upload(await fixtureDir('legacy-counter-server'));
    await first?.api.deploy('legacy', { artifactId: legacy, command: 'node server.js http', transport: 'http', env: {} });
    const counter = await cluster.upload(await fixtureDir('counter-server'));
    await first?.api.deploy('counter', { artifactId: counter, command: 'node server.js http', transport: 'http', env: {} });
    const agent = await cluster.upload(await fixtureDir('http-agent'));
    await first?.api.deploy('agent', { artifactId: agent, command: 'node server.js', protocol: 'http', transport: 'http', port: 8080, env: {} });
    const agui = await cluster.upload(await fixtureDir('agui-agent'));
    await first?.api.deploy('agui', { artifactId: agui, command: 'node server.js', protocol: 'agui', transport: 'http', port: 8080, env: {} });
    await first?.api.deploy('limited', {
      artifactId: counter,
      command: 'node server.js stdio',
      transport: 'stdio',
      env: {},
      rateLimits: { runtime: { perSecond: RATE, burst: BURST } },
    });
    await first?.api.deploy('keyed', { artifactId: counter, command: 'node server.js stdio', transport: 'stdio', env: {}, authorizer: { type: 'apiKey' } });
    balancer = await startRoundRobin(cluster.nodes.map((node) => node.url));
  });
  after(async () => {
    await balancer?.close();
    await cluster?.stop();
    await postgres?.stop();
  });

  test("a legacy client's session: the server's questions, its state, the GET stream and DELETE, wherever each request lands", async () => {
    const asked: string[] = [];
    const client = new LegacyClient({ name: 'legacy-client', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {} } });
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(`elicit:${request.params.message}`);
      return { action: 'accept', content: { name: 'Ada' } };
    });
    client.setRequestHandler(CreateMessageRequestSchema, async () => {
      asked.push('sample');
      return { role: 'assistant', content: { type: 'text', text: 'from the client' }, model: 'test', stopReason: 'endTurn' };
    });
    const transport = new LegacyTransport(new URL(`${balancer.url}/runtimes/legacy/mcp`));
    await client.connect(transport);
    try {
      // The server asks on the call's stream; the client's answer is a POST of its own, to the next node in turn.
      assert.equal(text(await client.callTool({ name: 'ask_name', arguments: {} })), '{"action":"accept","name":"Ada"}');
      assert.equal(text(await client.callTool({ name: 'ask_sample', arguments: {} })), '{"sampled":"from the client"}');
      assert.deepEqual(asked, ['elicit:What is your name?', 'sample']);
      const counts: string[] = [];
      for (let i = 0; i < 4; i++) counts.push(text(await client.callTool({ name: 'increment', arguments: {} })));
      assert.deepEqual(counts, ['{"count":1}', '{"count":2}', '{"count":3}', '{"count":4}']);
      const session = (transport.sessionId ?? '').split('.')[0] as string;
      assert.equal((await holders(cluster, session)).length, 1, 'one node holds the session');

      const updates: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (notification) => {
        updates.push(notification.params.uri);
      });
      await client.subscribeResource({ uri: 'counter://value' });
      await waitFor(
        async () => text(await client.callTool({ name: 'stats', arguments: {} })).includes('counter://value'),
        "berth to subscribe on the client's behalf",
      );
      await client.callTool({ name: 'touch', arguments: { uri: 'counter://value' } });
      await waitFor(() => updates.length === 1, 'the update on the GET stream, passed on from the node that holds the session');

      await transport.terminateSession();
      await waitFor(async () => (await holders(cluster, session)).length === 0, 'DELETE, through whichever node, to end the session');
    } finally {
      await client.close();
    }
  });

  test('input_required rounds: each retry names its session by its requestState alone, and reaches it from any node', async () => {
    const sessionId = randomUUID();
    const first = await rawCall(balancer.url, 'legacy', 'tools/call', 'ask_twice', {}, { sessionId, capabilities: ELICIT });
    assert.equal(first.response.result?.resultType, 'input_required', JSON.stringify(first.response));
    const [key1] = Object.keys(first.response.result?.inputRequests as object);
    const second = await rawCall(
      balancer.url,
      'legacy',
      'tools/call',
      'ask_twice',
      {},
      {
        capabilities: ELICIT,
        params: { inputResponses: { [key1 as string]: { action: 'accept', content: { a: 'one' } } }, requestState: first.response.result?.requestState },
      },
    );
    assert.equal(second.response.result?.resultType, 'input_required', JSON.stringify(second.response));
    assert.equal(second.headers.get(SESSION_HEADER), sessionId, 'the retry found its session by its requestState alone');
    const [key2] = Object.keys(second.response.result?.inputRequests as object);
    const done = await rawCall(
      balancer.url,
      'legacy',
      'tools/call',
      'ask_twice',
      {},
      {
        capabilities: ELICIT,
        params: { inputResponses: { [key2 as string]: { action: 'accept', content: { b: 'two' } } }, requestState: second.response.result?.requestState },
      },
    );
    assert.deepEqual(JSON.parse(text(done.response.result ?? {})), { a: 'one', b: 'two' });
    assert.deepEqual(await holders(cluster, sessionId), [(await holders(cluster, sessionId))[0]], 'the three rounds ran in one sandbox');

    // The official 2026-07-28 client answers the rounds itself, through the balancer.
    const client = new Client({ name: 'cluster-test', version: '1.0.0' }, { capabilities: ELICIT, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${balancer.url}/runtimes/legacy/mcp`), { requestInit: { headers: { [SESSION_HEADER]: randomUUID() } } }),
    );
    try {
      client.setRequestHandler('elicitation/create', async (request) => ({ action: 'accept', content: { a: `to ${request.params.message}`, b: 'again' } }));
      assert.deepEqual(JSON.parse(text(await client.callTool({ name: 'ask_twice', arguments: {} }))), { a: 'to First?', b: 'again' });
      const counts = [];
      for (let i = 0; i < 3; i++) counts.push(JSON.parse(text(await client.callTool({ name: 'increment', arguments: {} }))));
      assert.deepEqual(counts, [{ count: 1 }, { count: 2 }, { count: 3 }]);
    } finally {
      await client.close();
    }
  });

  test("AgentCore's data plane through the AWS SDK: invocations, commands and StopRuntimeSession reach the session's node", async () => {
    const config = { endpoint: balancer.url, region: 'us-west-2', credentials: AWS_KEYS, maxAttempts: 1 };
    const control = new BedrockAgentCoreControlClient(config);
    const data = new BedrockAgentCoreClient(config);
    try {
      const counter = await cluster.upload(await fixtureDir('counter-server'));
      const created = await control.send(
        new CreateAgentRuntimeCommand({
          agentRuntimeName: 'cluster_mcp',
          agentRuntimeArtifact: {
            codeConfiguration: { code: { s3: { bucket: 'berth', prefix: counter } }, runtime: 'NODE_22', entryPoint: ['server.js', 'http'] },
          },
          roleArn: 'arn:aws:iam::123456789012:role/AgentRole',
          protocolConfiguration: { serverProtocol: 'MCP' },
        }),
      );
      const arn = created.agentRuntimeArn as string;
      const session = randomUUID();
      const call = async (name: string, args: Record<string, unknown> = {}): Promise<unknown> => {
        const message = {
          jsonrpc: '2.0',
          id: randomUUID(),
          method: 'tools/call',
          params: {
            name,
            arguments: args,
            _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
          },
        };
        const answer = await data.send(
          new InvokeAgentRuntimeCommand({
            agentRuntimeArn: arn,
            runtimeSessionId: session,
            payload: new TextEncoder().encode(JSON.stringify(message)),
            contentType: 'application/json',
            accept: 'application/json, text/event-stream',
            mcpProtocolVersion: '2026-07-28',
            mcpMethod: 'tools/call',
            mcpName: name,
          }),
        );
        const body = (await answer.response?.transformToString()) ?? '';
        const json = body.startsWith('{')
          ? body
          : (body
              .split('\n')
              .find((line) => line.startsWith('data:'))
              ?.slice(5) ?? 'null');
        return JSON.parse(text((JSON.parse(json) as { result: Record<string, unknown> }).result));
      };
      const counts = [];
      for (let i = 0; i < 4; i++) counts.push(await call('increment'));
      assert.deepEqual(counts, [{ count: 1 }, { count: 2 }, { count: 3 }, { count: 4 }]);
      await call('write_file', { name: 'note.txt', content: 'kept on one node' });
      for (let i = 0; i < 3; i++) {
        const run = await data.send(
          new InvokeAgentRuntimeCommandCommand({ agentRuntimeArn: arn, runtimeSessionId: session, body: { command: 'cat "$HOME/note.txt"', timeout: 30 } }),
        );
        let stdout = '';
        for await (const event of run.stream ?? []) stdout += event.chunk?.contentDelta?.stdout ?? '';
        assert.equal(stdout, 'kept on one node', `command ${i + 1} ran in the session's sandbox`);
      }
      assert.equal((await holders(cluster, session)).length, 1);
      await data.send(new StopRuntimeSessionCommand({ agentRuntimeArn: arn, runtimeSessionId: session }));
      assert.deepEqual(await holders(cluster, session), [], 'stopped where it was held');
      assert.deepEqual(await call('increment'), { count: 1 }, 'the next invocation starts afresh');
    } finally {
      control.destroy();
      data.destroy();
    }
  });

  test("a key-authorized session is admitted once, where it lands; a client's claim to be a node, or someone, counts for nothing", async () => {
    const [first] = cluster.nodes;
    const makeKey = async (user: string): Promise<string> => {
      const made = await first!.admin('/v1/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ runtime: 'keyed', user }),
      });
      assert.equal(made.status, 201);
      return ((await made.json()) as { key: string }).key;
    };
    const alice = await makeKey('alice');
    const mallory = await makeKey('mallory');
    const session = randomUUID();
    const call = (headers: Record<string, string>) => rawCall(balancer.url, 'keyed', 'tools/call', 'increment', {}, { sessionId: session, headers });
    const counts = [];
    for (let i = 0; i < 4; i++) counts.push(JSON.parse(text((await call({ authorization: `Bearer ${alice}` })).response.result ?? {})));
    assert.deepEqual(counts, [{ count: 1 }, { count: 2 }, { count: 3 }, { count: 4 }]);
    const aliceSaid = Buffer.from(JSON.stringify({ key: `apiKey:keyed:alice`, userId: 'alice' })).toString('base64url');
    for (let i = 0; i < 3; i++) {
      // Each of the three nodes in turn: no credential, or another user's, with a forged hop and principal.
      const bare = await call({ 'x-berth-hop': 'forged', 'x-berth-hop-principal': aliceSaid });
      assert.equal(bare.status, 401, JSON.stringify(bare.response));
      const other = await call({ authorization: `Bearer ${mallory}`, 'x-berth-hop': 'forged', 'x-berth-hop-principal': aliceSaid });
      assert.notEqual(other.status, 200, "another user's key does not open alice's session");
    }
    assert.deepEqual(JSON.parse(text((await call({ authorization: `Bearer ${alice}` })).response.result ?? {})), { count: 5 }, 'her session went on');
    // A legacy client's Mcp-Session-Id is a session id like any other: one no id could be is refused before the
    // directory sees it.
    for (const node of cluster.nodes) {
      const junk = await fetch(`${node.url}/runtimes/legacy/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'x'.repeat(3000) },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
      assert.equal(junk.status, 400, await junk.clone().text());
      assert.equal(((await junk.json()) as { error: { data: { code: string } } }).error.data.code, 'invalid_session_id');
    }
  });

  test("GET /v1/sessions from any node pages through the whole cluster's sessions, each once, naming its node", async () => {
    const [first] = cluster.nodes;
    const made: string[] = [];
    // Through the balancer, new sessions land on every node.
    for (let i = 0; i < 6; i++) {
      const session = randomUUID();
      assert.equal((await rawCall(balancer.url, 'legacy', 'tools/call', 'increment', {}, { sessionId: session })).status, 200);
      made.push(session);
    }
    for (const node of cluster.nodes) {
      const seen: Array<{ id: string; node: string }> = [];
      let next: string | undefined;
      do {
        const page = (await (await node.admin(`/v1/sessions?runtime=legacy&limit=2${next ? `&next=${next}` : ''}`)).json()) as {
          sessions: Array<{ id: string; node: string }>;
          next?: string;
          unreachable?: unknown;
        };
        assert.equal(page.unreachable, undefined, 'every node answered');
        assert.ok(page.sessions.length <= 2);
        seen.push(...page.sessions);
        next = page.next;
      } while (next !== undefined);
      const ids = seen.map((s) => s.id);
      assert.deepEqual(ids, [...ids].sort(), 'in order of id');
      assert.equal(new Set(ids).size, ids.length, 'each once');
      for (const session of made) assert.ok(ids.includes(session), `${session} listed by ${node.url}`);
      assert.deepEqual(
        new Set(seen.filter((s) => made.includes(s.id)).map((s) => s.node)),
        new Set(cluster.nodes.map((n) => n.url)),
        'held across the three nodes',
      );
    }
    // The internal list is the nodes' own: a client without the hop token is refused.
    assert.equal((await fetch(`${first!.url}/internal/v1/sessions?limit=10`)).status, 403);
    assert.equal((await first!.admin('/internal/v1/sessions?limit=10')).status, 403, 'even with the admin key');
  });

  test("a runtime's rate limit holds for the cluster behind the balancer, not for each node", async () => {
    const session = randomUUID();
    let admitted = 0;
    let refused = 0;
    const started = performance.now();
    while (performance.now() - started < 4_000) {
      const answer = await rawCall(balancer.url, 'limited', 'tools/call', 'increment', {}, { sessionId: session });
      if (answer.status === 200) admitted++;
      else {
        assert.equal(answer.status, 429, JSON.stringify(answer.response));
        assert.equal(answer.response.error?.data?.code, 'rate_limited');
        refused++;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    // Three nodes each holding the limit alone would admit three times this; shares of one limit admit the limit,
    // plus at most a token per node while they learn their shares.
    const nodes = cluster.nodes.length;
    assert.ok(admitted <= BURST + RATE * seconds + nodes, `admitted ${admitted} in ${seconds.toFixed(1)} s, over the cluster's limit`);
    assert.ok(admitted >= 2 && refused > 0, `admitted ${admitted}, refused ${refused}`);
  });

  test("through a node that passes them on: progress streams as it comes, a client's going away cancels the call, and an http agent's invocations reach their session", async () => {
    const [owner, forwarder, third] = cluster.nodes as [BerthNode, BerthNode, BerthNode];
    const session = randomUUID();
    assert.equal((await rawCall(owner.url, 'counter', 'tools/call', 'increment', {}, { sessionId: session })).status, 200);
    const s = await connectSession(forwarder.url, 'counter', session);
    try {
      const seen: number[] = [];
      await s.client.callTool({ name: 'slow', arguments: { steps: 4, delayMs: 50 } }, { onprogress: (progress) => seen.push(progress.progress) });
      assert.deepEqual(seen, [1, 2, 3, 4], 'progress through the hop');
      const controller = new AbortController();
      const waiting = s.client.callTool({ name: 'wait', arguments: { ms: 120_000 } }, { signal: controller.signal });
      await waitFor(
        async () => (await owner.api.sessions('counter')).some((entry) => entry.id === session && entry.inFlight === 1),
        'the call in flight on the owner',
      );
      controller.abort();
      await assert.rejects(waiting);
      await waitFor(async () => ((await s.call('stats')) as { cancellations: number }).cancellations === 1, "the owner's server to see the cancellation");
      assert.equal(((await s.call('increment')) as { count: number }).count, 2, 'one sandbox throughout');
    } finally {
      await s.close();
    }

    const agentSession = randomUUID();
    const invoke = async (node: BerthNode): Promise<number> => {
      const response = await fetch(`${node.url}/runtimes/agent/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SESSION_HEADER]: agentSession },
        body: JSON.stringify({ action: 'increment' }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(response.headers.get(SESSION_HEADER), agentSession);
      return ((await response.json()) as { count: number }).count;
    };
    const counts = [];
    for (const node of [owner, forwarder, third, forwarder]) counts.push(await invoke(node));
    assert.deepEqual(counts, [1, 2, 3, 4]);
  });

  test("a WebSocket and a shell reach their session's node from any node: the connection is joined to the holder's", async () => {
    const [owner, forwarder, third] = cluster.nodes as [BerthNode, BerthNode, BerthNode];
    const session = randomUUID();
    const run = (text: string) => ({
      threadId: randomUUID(),
      runId: randomUUID(),
      messages: [{ id: randomUUID(), role: 'user', content: text }],
      tools: [],
      context: [],
      state: {},
    });
    const started = await fetch(`${owner.url}/runtimes/agui/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', [SESSION_HEADER]: session },
      body: JSON.stringify(run('first')),
    });
    assert.equal(started.status, 200);
    assert.match(await started.text(), /run 1/);
    const ws = new WebSocket(`${forwarder.url.replace(/^http/, 'ws')}/runtimes/agui/ws`, { headers: { [SESSION_HEADER]: session } });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    let text = '';
    await new Promise<void>((resolve) => {
      ws.on('message', (message) => {
        const event = JSON.parse(message.toString()) as { type: string; delta?: string };
        if (event.type === 'TEXT_MESSAGE_CONTENT') text += event.delta ?? '';
        if (event.type === 'RUN_FINISHED') resolve();
      });
      ws.send(JSON.stringify(run('over the hop')));
    });
    ws.close();
    assert.equal(text, 'run 2: over the hop', "the forwarding node joined the WebSocket to the owner's sandbox");

    const shell = new RawShell(`${third.url.replace(/^http/, 'ws')}/runtimes/agui/ws/shells?shellId=hop`, { [SESSION_HEADER]: session });
    await shell.opened();
    shell.type('echo hop-$((40+2)); exit\n');
    await shell.closed;
    const { output } = shell;
    assert.match(output, /hop-42/);
    assert.deepEqual(await holders(cluster, session), [owner.url], 'one sandbox, on the node that started it');
  });
});
