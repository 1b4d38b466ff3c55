/**
 * Legacy clients (the 2025-era @modelcontextprotocol/sdk 1.x client) through berth's legacy facade, against a
 * modern server and a legacy one: initialize, Mcp-Session-Id, the GET stream, DELETE, and elicitation and sampling
 * through the client's own server-to-client flow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { waitFor } from '../helpers/wait.ts';

interface Connected {
  client: Client;
  transport: StreamableHTTPClientTransport;
  asked: string[];
}

async function legacyClient(node: BerthNode, runtime: string): Promise<Connected> {
  const asked: string[] = [];
  const client = new Client({ name: 'legacy-client', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {}, roots: { listChanged: true } } });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    asked.push(`elicit:${request.params.message}`);
    return { action: 'accept', content: { name: 'Ada', response: 'yes', color: 'blue' } };
  });
  client.setRequestHandler(CreateMessageRequestSchema, async () => {
    asked.push('sample');
    return { role: 'assistant', content: { type: 'text', text: 'from the client' }, model: 'test', stopReason: 'endTurn' };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    asked.push('roots');
    return { roots: [{ uri: 'file:///legacy', name: 'legacy' }] };
  });
  const transport = new StreamableHTTPClientTransport(new URL(`${node.url}/runtimes/${runtime}/mcp`));
  await client.connect(transport);
  return { client, transport, asked };
}

function text(result: Record<string, unknown>): string {
  return (result.content as Array<{ text: string }>)[0]?.text ?? '';
}

describe('legacy clients through berth', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    await deploy(node, 'modern', await fixtureDir('counter-server'), { transport: 'stdio' });
    await deploy(node, 'modern-mrtr', await fixtureDir('conformance-modern'), { transport: 'http', command: 'node server.js http' });
    await deploy(node, 'legacy', await fixtureDir('legacy-counter-server'), { transport: 'http' });
  });
  after(async () => {
    await node?.stop();
  });

  test('against a modern server: a session that keeps state, progress, and DELETE ending it', async () => {
    const { client, transport } = await legacyClient(node, 'modern');
    assert.equal(client.getServerVersion()?.name, 'counter-fixture');
    const sessionId = transport.sessionId;
    assert.ok(sessionId && sessionId.length >= 33, `Mcp-Session-Id ${sessionId} names a berth session`);
    assert.equal(text(await client.callTool({ name: 'increment', arguments: {} })), '{"count":1}');
    assert.equal(text(await client.callTool({ name: 'increment', arguments: {} })), '{"count":2}');
    const progress: number[] = [];
    await client.callTool({ name: 'slow', arguments: { steps: 3, delayMs: 10 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    assert.deepEqual(progress, [1, 2, 3]);
    assert.deepEqual(await client.ping(), {});
    assert.ok((await node.api.sessions('modern')).some((s) => s.id === sessionId));
    await transport.terminateSession();
    assert.ok(!(await node.api.sessions('modern')).some((s) => s.id === sessionId), 'DELETE ended the session');
    await client.close();
  });

  test('against a modern server that asks through input_required: the client answers its own requests', async () => {
    const { client, asked } = await legacyClient(node, 'modern-mrtr');
    try {
      assert.match(text(await client.callTool({ name: 'test_elicitation', arguments: { message: 'Proceed?' } })), /action=accept/);
      assert.equal(text(await client.callTool({ name: 'test_sampling', arguments: { prompt: 'hi' } })), 'LLM response: from the client');
      assert.equal(
        text(await client.callTool({ name: 'test_input_required_result_multi_round', arguments: {} })),
        'Multi-round complete for Ada who likes blue',
      );
      assert.deepEqual(asked, ['elicit:Proceed?', 'sample', 'elicit:Step 1: What is your name?', 'elicit:Step 2: What is your favorite color?']);
    } finally {
      await client.close();
    }
  });

  test('against a legacy server: elicitation, sampling, roots, state, and resource updates on the GET stream', async () => {
    const { client, asked } = await legacyClient(node, 'legacy');
    try {
      assert.equal(client.getServerVersion()?.name, 'legacy-counter');
      assert.equal(text(await client.callTool({ name: 'ask_name', arguments: {} })), '{"action":"accept","name":"Ada"}');
      assert.equal(text(await client.callTool({ name: 'ask_sample', arguments: {} })), '{"sampled":"from the client"}');
      assert.equal(text(await client.callTool({ name: 'ask_roots', arguments: {} })), '{"roots":["file:///legacy"]}');
      assert.deepEqual(asked, ['elicit:What is your name?', 'sample', 'roots']);
      assert.equal(text(await client.callTool({ name: 'increment', arguments: {} })), '{"count":1}');
      assert.equal(text(await client.callTool({ name: 'increment', arguments: {} })), '{"count":2}');

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
      await waitFor(() => updates.length === 1, 'the update on the GET stream');
      assert.deepEqual(updates, ['counter://value']);
    } finally {
      await client.close();
    }
  });

  test('an unknown Mcp-Session-Id is 404, so a client knows to initialize again', async () => {
    const response = await fetch(`${node.url}/runtimes/modern/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': 'no-such-session-0000000000000000000000',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { data: { code: string } } };
    assert.equal(body.error.data.code, 'session_not_found');
  });

  test("a session berth ends (stopped, idle, crashed) ends the client's MCP session too: 404, never a silent fresh sandbox", async () => {
    const { client, transport } = await legacyClient(node, 'modern');
    try {
      await client.callTool({ name: 'increment', arguments: {} });
      const sessionId = transport.sessionId as string;
      const stop = await node.admin(`/v1/sessions/${sessionId}`, { method: 'DELETE' });
      assert.equal(stop.status, 200);
      for (const message of [
        { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'get_count', arguments: {} } },
        { jsonrpc: '2.0', id: 8, method: 'ping' },
      ]) {
        const response = await fetch(`${node.url}/runtimes/modern/mcp`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': sessionId,
            'mcp-protocol-version': '2025-11-25',
          },
          body: JSON.stringify(message),
        });
        assert.equal(response.status, 404, message.method);
      }
      assert.equal(
        (await node.api.sessions()).some((s) => s.id === sessionId),
        false,
        'no sandbox was started for the ended session',
      );
    } finally {
      await client.close().catch(() => {});
    }
  });
});
