/**
 * Stock clients keep their state in their default configuration (issue 14). Third-party client libraries from npm —
 * the Vercel AI SDK's MCP client (its own protocol code, which probes server/discover first) and OpenAI's Agents SDK
 * (the official client underneath, in its version-negotiating mode) — name no session: berth steers them to
 * `initialize` and the Mcp-Session-Id they echo, so each conversation keeps one sandbox and its state, a second
 * conversation starts fresh, and no sandbox starts for their discover probe. Against a modern fixture, a legacy
 * fixture, and the published server-memory (installed by the node from npm). A client that names a session keeps
 * 2026-07-28.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createMCPClient } from '@ai-sdk/mcp';
import { MCPServerStreamableHttp } from '@openai/agents-core';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { waitFor } from '../helpers/wait.ts';

/** A stock client, connected: call a tool for the text of its first content; close. */
interface Connected {
  call(name: string, args: Record<string, unknown>): Promise<string | undefined>;
  close(): Promise<void>;
}

type Content = Array<{ type: string; text?: string }>;

/** Each library as an application would use it: its defaults, and headers only when the test names a session. */
const CLIENTS: Record<string, (url: string, headers?: Record<string, string>) => Promise<Connected>> = {
  'Vercel AI SDK (@ai-sdk/mcp)': async (url, headers) => {
    const client = await createMCPClient({ transport: { type: 'http', url, ...(headers ? { headers } : {}) } });
    return { call: async (name, args) => ((await client.callTool({ name, arguments: args })).content as Content)[0]?.text, close: () => client.close() };
  },
  'OpenAI Agents SDK (@openai/agents-core)': async (url, headers) => {
    const server = new MCPServerStreamableHttp({ url, name: 'berth', ...(headers ? { requestInit: { headers } } : {}) });
    await server.connect();
    return { call: async (name, args) => ((await server.callTool(name, args)) as Content)[0]?.text, close: () => server.close() };
  },
};

/**
 * A published legacy server, as the registry has it; its knowledge graph lives in the session's workspace. The
 * node installs it with npm, so it is handed this machine's way to the registry, as an operator would start it.
 */
const MEMORY = '@modelcontextprotocol/server-memory@2026.8.31';
const NETWORK_ENV = ['NODE_EXTRA_CA_CERTS', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];

/** One step of a conversation on each kind of server, answering a count that grows only if the state is kept. */
const STEPS: Record<string, (client: Connected) => Promise<number>> = {
  counter: async (client) => (JSON.parse((await client.call('increment', {})) ?? 'null') as { count: number }).count,
  memory: async (client) => {
    await client.call('create_entities', { entities: [{ name: `e-${randomUUID()}`, entityType: 'note', observations: ['kept'] }] });
    return (JSON.parse((await client.call('read_graph', {})) ?? 'null') as { entities: unknown[] }).entities.length;
  },
};

/** A conversation: connect, three steps, a look at the node while still connected, close; the counts it saw. */
async function converse(
  library: string,
  url: string,
  step: (client: Connected) => Promise<number>,
  headers?: Record<string, string>,
  during?: () => Promise<void>,
): Promise<number[]> {
  const client = await (CLIENTS[library] as (url: string, headers?: Record<string, string>) => Promise<Connected>)(url, headers);
  try {
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) counts.push(await step(client));
    await during?.();
    return counts;
  } finally {
    await client.close();
  }
}

describe('stock clients in their default configuration', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    const env: Record<string, string> = {};
    for (const name of NETWORK_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
    node = await startBerth({ env });
    const installed = await node.admin('/v1/artifacts', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ npm: MEMORY }),
    });
    const memory = (await installed.json()) as { artifactId: string; command: string };
    assert.equal(installed.status, 201, JSON.stringify(memory));
    await node.api.deploy('memory', {
      artifactId: memory.artifactId,
      command: memory.command,
      transport: 'stdio',
      env: { MEMORY_FILE_PATH: '/workspace/memory.jsonl' },
    });
    await deploy(node, 'modern', await fixtureDir('counter-server'), { transport: 'stdio' });
    await deploy(node, 'legacy', await fixtureDir('legacy-counter-server'), { transport: 'http' });
    await deploy(node, 'stateless', await fixtureDir('counter-server'), { transport: 'stdio', sessionlessClients: 'stateless' });
  });
  after(async () => {
    await node?.stop();
  });

  const sessionsOf = async (runtime: string): Promise<Set<string>> => new Set((await node.api.sessions(runtime)).map((session) => session.id));

  for (const library of Object.keys(CLIENTS)) {
    for (const [runtime, kind, step] of [
      ['modern', 'a modern server', STEPS.counter],
      ['legacy', 'a legacy server', STEPS.counter],
      ['memory', 'the published server-memory (legacy)', STEPS.memory],
    ] as const) {
      test(`${library} against ${kind}: one sandbox per conversation, state kept, a second conversation fresh`, async () => {
        const url = `${node.url}/runtimes/${runtime}/mcp`;
        const before = await sessionsOf(runtime);
        const made: string[][] = [];
        const look = async (): Promise<void> => void made.push([...(await sessionsOf(runtime))].filter((id) => !before.has(id)));
        const counted = step as (client: Connected) => Promise<number>;
        assert.deepEqual(await converse(library, url, counted, undefined, look), [1, 2, 3], 'the conversation kept its state');
        assert.equal(made[0]?.length, 1, `one sandbox for the conversation, not ${made[0]?.length}`);
        assert.deepEqual(await converse(library, url, counted, undefined, look), [1, 2, 3], 'a second conversation starts fresh');
        assert.equal(made[1]?.length, 1, "the second conversation has one sandbox, and the first's ended with its close");
        assert.notEqual(made[1]?.[0], made[0]?.[0]);
      });
    }
  }

  test('a client that names its session keeps 2026-07-28 and its state', async () => {
    const session = randomUUID();
    const url = `${node.url}/runtimes/modern/mcp`;
    const counted = STEPS.counter as (client: Connected) => Promise<number>;
    const seen: number[] = [];
    for (const library of Object.keys(CLIENTS)) seen.push(...(await converse(library, url, counted, { [SESSION_HEADER]: session })));
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6], 'both libraries shared the one named session');
    assert.ok(
      (await node.api.sessions('modern')).some((live) => live.id === session),
      'the named session lives on',
    );
  });

  const discover = (runtime: string, id: number): Promise<Response> =>
    fetch(`${node.url}/runtimes/${runtime}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'server/discover',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'server/discover',
        params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
      }),
    });

  test('the discover probe of a client naming no session starts no sandbox', async () => {
    const before = (await node.api.sessions()).length;
    const started = performance.now();
    const probe = await discover('modern', 1);
    const took = performance.now() - started;
    assert.equal(probe.status, 400);
    assert.equal(probe.headers.get(SESSION_HEADER), null, 'no session was made for it');
    const body = (await probe.json()) as { id: number; error: { code: number; data: { code: string } } };
    assert.deepEqual([body.id, body.error.code, body.error.data.code], [1, -32000, 'session_required']);
    assert.equal((await node.api.sessions()).length, before);
    process.stdout.write(`stock clients: a sessionless discover probe answered in ${took.toFixed(1)} ms, no sandbox started\n`);
  });

  test("a runtime whose sessionless clients are answered as its server would: discover from berth's cache, learned at deploy, no sandbox on the request", async () => {
    // At deploy berth asked one sandbox of the version in the background, then ended it.
    await waitFor(
      () => /session ended session=berth-discover-\S+ runtime=stateless reason=stopped/.test(node.logs()),
      "berth to learn the new version's discover answer",
    );
    const before = (await node.api.sessions('stateless')).length;
    const answers: Array<{ status: number; session: string | null; body: { id: number; result: { supportedVersions: string[] } } }> = [];
    const took: number[] = [];
    for (const id of [1, 2]) {
      const started = performance.now();
      const answer = await discover('stateless', id);
      took.push(performance.now() - started);
      answers.push({ status: answer.status, session: answer.headers.get(SESSION_HEADER), body: (await answer.json()) as (typeof answers)[number]['body'] });
    }
    for (const [index, answer] of answers.entries()) {
      assert.equal(answer.status, 200);
      assert.equal(answer.session, null, 'no session was made for it');
      assert.equal(answer.body.id, index + 1);
      assert.ok(answer.body.result.supportedVersions.includes('2026-07-28'));
    }
    assert.equal((await node.api.sessions('stateless')).length, before, 'no sandbox started for them');
    process.stdout.write(
      `stock clients: sessionless discovers of a stateless runtime answered from the cache in ${took.map((ms) => ms.toFixed(1)).join(', ')} ms\n`,
    );
  });

  test('a stateless runtime whose server cannot start: the warning says why, its clients get the start error, the node and the cache live on', async () => {
    await deploy(node, 'stateless-broken', await fixtureDir('exits-at-start'), {
      transport: 'stdio',
      command: 'node server.js',
      sessionlessClients: 'stateless',
    });
    await waitFor(
      () => /could not learn what the runtime answers server\/discover.*runtime=stateless-broken/.test(node.logs()),
      'the warning of the failed warm-up',
    );
    assert.match(node.logs(), /cannot find my configuration/, "the server's own words are in the warning");
    const broken = await discover('stateless-broken', 7);
    const body = (await broken.json()) as { id: number; error: { message: string } };
    assert.equal(body.id, 7);
    assert.match(body.error.message, /cannot find my configuration/, 'the client is told why, as for any failed start');
    const cached = await discover('stateless', 8);
    assert.equal(cached.status, 200, 'the other runtime still answers from the cache');
    assert.equal(cached.headers.get(SESSION_HEADER), null);
  });
});
