/**
 * Stock clients keep their state in their default configuration (issue 14). Third-party client libraries from npm —
 * the Vercel AI SDK's MCP client (its own protocol code, which probes server/discover first) and OpenAI's Agents SDK
 * (the official client underneath, in its version-negotiating mode) — name no session: berth steers them to
 * `initialize` and the Mcp-Session-Id they echo, so each conversation keeps one sandbox and its state, a second
 * conversation starts fresh, and no sandbox starts for their discover probe. A client that names a session keeps
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

/**
 * One conversation of a stock client: connect, call `tool` three times, look (`during`) while still connected, close;
 * what each call answered.
 */
type StockClient = (url: string, tool: string, headers?: Record<string, string>, during?: () => Promise<void>) => Promise<number[]>;

function countOf(text: string | undefined): number {
  return (JSON.parse(text ?? 'null') as { count: number }).count;
}

const CLIENTS: Record<string, StockClient> = {
  'Vercel AI SDK (@ai-sdk/mcp)': async (url, tool, headers, during) => {
    const client = await createMCPClient({ transport: { type: 'http', url, ...(headers ? { headers } : {}) } });
    try {
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const result = await client.callTool({ name: tool, arguments: {} });
        counts.push(countOf((result.content as Array<{ type: string; text?: string }>)[0]?.text));
      }
      await during?.();
      return counts;
    } finally {
      await client.close();
    }
  },
  'OpenAI Agents SDK (@openai/agents-core)': async (url, tool, headers, during) => {
    const server = new MCPServerStreamableHttp({ url, name: 'berth', ...(headers ? { requestInit: { headers } } : {}) });
    await server.connect();
    try {
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const content = await server.callTool(tool, {});
        counts.push(countOf((content as Array<{ type: string; text?: string }>)[0]?.text));
      }
      await during?.();
      return counts;
    } finally {
      await server.close();
    }
  },
};

describe('stock clients in their default configuration', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    await deploy(node, 'modern', await fixtureDir('counter-server'), { transport: 'stdio' });
    await deploy(node, 'legacy', await fixtureDir('legacy-counter-server'), { transport: 'http' });
    await deploy(node, 'stateless', await fixtureDir('counter-server'), { transport: 'stdio', sessionlessClients: 'stateless' });
  });
  after(async () => {
    await node?.stop();
  });

  const sessionsOf = async (runtime: string): Promise<Set<string>> => new Set((await node.api.sessions(runtime)).map((session) => session.id));

  for (const [library, converse] of Object.entries(CLIENTS)) {
    for (const runtime of ['modern', 'legacy']) {
      test(`${library} against a ${runtime} server: one sandbox per conversation, state kept, a second conversation fresh`, async () => {
        const url = `${node.url}/runtimes/${runtime}/mcp`;
        const before = await sessionsOf(runtime);
        const made: string[][] = [];
        const look = async (): Promise<void> => void made.push([...(await sessionsOf(runtime))].filter((id) => !before.has(id)));
        assert.deepEqual(await converse(url, 'increment', undefined, look), [1, 2, 3], 'the conversation kept its state');
        assert.equal(made[0]?.length, 1, `one sandbox for the conversation, not ${made[0]?.length}`);
        assert.deepEqual(await converse(url, 'increment', undefined, look), [1, 2, 3], 'a second conversation starts fresh');
        assert.equal(made[1]?.length, 1, 'the second conversation has one sandbox, and the first\'s ended with its close');
        assert.notEqual(made[1]?.[0], made[0]?.[0]);
      });
    }
  }

  test('a client that names its session keeps 2026-07-28 and its state', async () => {
    const session = randomUUID();
    for (const converse of Object.values(CLIENTS)) {
      await converse(`${node.url}/runtimes/modern/mcp`, 'increment', { [SESSION_HEADER]: session });
    }
    const live = (await node.api.sessions('modern')).find((seen) => seen.id === session);
    assert.ok(live, 'the named session lives');
    const again = await CLIENTS['Vercel AI SDK (@ai-sdk/mcp)']?.(`${node.url}/runtimes/modern/mcp`, 'increment', { [SESSION_HEADER]: session });
    assert.deepEqual(again, [7, 8, 9], 'both libraries and this conversation shared the one named session');
  });

  const discover = (runtime: string, id: number): Promise<Response> =>
    fetch(`${node.url}/runtimes/${runtime}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'server/discover', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
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

  test('a runtime whose sessionless clients are answered as its server would: discover from berth\'s cache once a server told it', async () => {
    const first = await discover('stateless', 1);
    assert.equal(first.status, 200);
    const learned = (await first.json()) as { result: { supportedVersions: string[] } };
    assert.ok(learned.result.supportedVersions.includes('2026-07-28'));
    const before = (await node.api.sessions('stateless')).length;
    const started = performance.now();
    const cached = await discover('stateless', 2);
    const took = performance.now() - started;
    assert.equal(cached.status, 200);
    assert.equal(cached.headers.get(SESSION_HEADER), null, 'no session was made for it');
    assert.deepEqual(await cached.json(), { jsonrpc: '2.0', id: 2, result: learned.result });
    assert.equal((await node.api.sessions('stateless')).length, before, 'no sandbox started for it');
    process.stdout.write(`stock clients: a sessionless discover of a stateless runtime answered from the cache in ${took.toFixed(1)} ms\n`);
  });
});
