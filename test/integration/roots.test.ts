/**
 * A client's roots reach a legacy server: @modelcontextprotocol/server-filesystem, as published, started with no
 * directory arguments over stdio, learns which directories it may touch only from its client's roots (it asks right
 * after `notifications/initialized`, and again on `notifications/roots/list_changed`). Through berth, a 2026-07-28
 * client's roots and a legacy client's both reach it before the call that needs them, as they do directly; a client
 * that declares no roots gets the server's own refusal, and its session and the others go on.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { packageDir } from '../helpers/fixtures.ts';

const FILESYSTEM = '@modelcontextprotocol/server-filesystem';
const COMMAND = `node node_modules/${FILESYSTEM}/dist/index.js`;
/** The sandbox's writable workspace (its HOME) and its /tmp: the only client roots that exist inside it. */
const WORKSPACE = { uri: 'file:///workspace', name: 'workspace' };
const TMP = { uri: 'file:///tmp', name: 'tmp' };

interface ToolResult {
  content?: unknown;
  isError?: boolean;
}

function text(result: ToolResult): string {
  return (result.content as Array<{ type: string; text?: string }>).map((item) => item.text ?? '').join('\n');
}

/** The official 2026-07-28 client in session `sessionId`; with `roots`, it declares them and answers roots/list. */
async function modernClient(
  node: BerthNode,
  sessionId: string,
  roots?: Array<{ uri: string; name: string }>,
): Promise<{ client: ModernClient; asked: () => number }> {
  let asked = 0;
  const client = new ModernClient(
    { name: 'roots-test', version: '1.0.0' },
    { capabilities: roots ? { roots: {} } : {}, versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  if (roots) {
    client.setRequestHandler('roots/list', async () => {
      asked++;
      return { roots };
    });
  }
  await client.connect(new ModernTransport(new URL(`${node.url}/runtimes/filesystem/mcp`), { requestInit: { headers: { [SESSION_HEADER]: sessionId } } }));
  return { client, asked: () => asked };
}

describe('roots reach a legacy server', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    await deploy(node, 'filesystem', await packageDir(FILESYSTEM), { transport: 'stdio', command: COMMAND });
  });
  after(async () => {
    await node?.stop();
  });

  const modernSession = randomUUID();

  test('a 2026-07-28 client: the roots it gives at its first call are the directories the server allows', async () => {
    const { client, asked } = await modernClient(node, modernSession, [WORKSPACE]);
    try {
      assert.equal(client.getProtocolEra(), 'modern');
      const written = (await client.callTool({ name: 'write_file', arguments: { path: '/workspace/x.txt', content: 'from a modern client' } })) as ToolResult;
      assert.equal(written.isError, undefined, text(written));
      assert.match(text(written), /Successfully wrote to \/workspace\/x.txt/);
      const read = (await client.callTool({ name: 'read_file', arguments: { path: '/workspace/x.txt' } })) as ToolResult;
      assert.equal(text(read), 'from a modern client');
      assert.equal(asked(), 1, 'the client was asked for its roots once');
      const allowed = (await client.callTool({ name: 'list_allowed_directories', arguments: {} })) as ToolResult;
      assert.equal(text(allowed), 'Allowed directories:\n/workspace');
    } finally {
      await client.close();
    }
  });

  test("a legacy client: asked for its roots on its call's stream; when they change, the server learns the new ones", async () => {
    let roots = [WORKSPACE];
    const asked: string[] = [];
    const client = new LegacyClient({ name: 'legacy-roots', version: '1.0.0' }, { capabilities: { roots: { listChanged: true } } });
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      asked.push(roots.map((root) => root.uri).join(','));
      return { roots };
    });
    const transport = new LegacyTransport(new URL(`${node.url}/runtimes/filesystem/mcp`));
    await client.connect(transport);
    try {
      assert.notEqual(transport.sessionId, modernSession);
      const written = (await client.callTool({ name: 'write_file', arguments: { path: '/workspace/x.txt', content: 'from a legacy client' } })) as ToolResult;
      assert.equal(written.isError, undefined, text(written));
      const read = (await client.callTool({ name: 'read_file', arguments: { path: '/workspace/x.txt' } })) as ToolResult;
      assert.equal(text(read), 'from a legacy client');
      assert.deepEqual(asked, ['file:///workspace']);

      roots = [TMP];
      await client.sendRootsListChanged();
      const allowed = (await client.callTool({ name: 'list_allowed_directories', arguments: {} })) as ToolResult;
      assert.equal(text(allowed), 'Allowed directories:\n/tmp');
      assert.deepEqual(asked, ['file:///workspace', 'file:///tmp']);
      const refused = (await client.callTool({ name: 'read_file', arguments: { path: '/workspace/x.txt' } })) as ToolResult;
      assert.equal(refused.isError, true);
      assert.match(text(refused), /Access denied - path outside allowed directories/);
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  test("a client with no roots gets the server's own refusal, and its session and the others go on", async () => {
    const { client } = await modernClient(node, randomUUID());
    try {
      const refused = (await client.callTool({ name: 'write_file', arguments: { path: '/workspace/x.txt', content: 'no roots' } })) as ToolResult;
      assert.equal(refused.isError, true);
      assert.match(text(refused), /Access denied - path outside allowed directories: \/workspace\/x.txt not in $/);
      const allowed = (await client.callTool({ name: 'list_allowed_directories', arguments: {} })) as ToolResult;
      assert.equal(text(allowed), 'Allowed directories:\n');
    } finally {
      await client.close();
    }
    // The first session still has its file and its roots; its client is not asked again.
    const { client: again, asked } = await modernClient(node, modernSession, [WORKSPACE]);
    try {
      const read = (await again.callTool({ name: 'read_file', arguments: { path: '/workspace/x.txt' } })) as ToolResult;
      assert.equal(text(read), 'from a modern client');
      assert.equal(asked(), 0);
    } finally {
      await again.close();
    }
  });
});

describe('roots the server stopped waiting for', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    // berth answers the server's start-up question itself (no roots) after this long without a call to carry it.
    node = await startBerth({ env: { BERTH_INPUT_TIMEOUT_MS: '300' } });
    await deploy(node, 'filesystem', await packageDir(FILESYSTEM), { transport: 'stdio', command: COMMAND });
  });
  after(async () => {
    await node?.stop();
  });

  test('a call that comes later tells the server its roots changed, and carries the question it asks then', async () => {
    const { client, asked } = await modernClient(node, randomUUID(), [WORKSPACE]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 800));
      const written = (await client.callTool({ name: 'write_file', arguments: { path: '/workspace/late.txt', content: 'late' } })) as ToolResult;
      assert.equal(written.isError, undefined, text(written));
      assert.equal(asked(), 1);
    } finally {
      await client.close();
    }
  });
});
