/**
 * Published servers deployed in one command (`berth deploy npm:PACKAGE`, `POST /v1/artifacts` with `{"npm": …}`)
 * against a real node: the node installs each package with npm from the registry into an artifact, and the
 * servers run in sandboxes with no network, driven by the official 2026-07-28 client (berth bridges these
 * 2025-era servers). Bad input is a clear error that leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { BIN, startBerth, type BerthNode } from '../helpers/berth.ts';
import { connectSession } from '../helpers/mcp.ts';

/** Versions that exist in the registry (npm view @modelcontextprotocol/server-memory versions). */
const VERSION = '2026.8.31';
const MEMORY = `@modelcontextprotocol/server-memory@${VERSION}`;
const FILESYSTEM = `@modelcontextprotocol/server-filesystem@${VERSION}`;

/** How this machine reaches the registry, handed to berth as an operator would start it. */
const NETWORK_ENV = ['NODE_EXTRA_CA_CERTS', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI against `node`; `serverArgs` go after `--`, past the CLI's own flags. */
function berth(node: BerthNode, args: string[], serverArgs?: string[]): Promise<Run> {
  const argv = [BIN, ...args, '--url', node.url, ...(serverArgs === undefined ? [] : ['--', ...serverArgs])];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { env: { PATH: process.env.PATH, BERTH_HOME: node.home } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function installThroughV1(node: BerthNode, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await node.admin('/v1/artifacts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function texts(result: Record<string, unknown>): string {
  return (result.content as Array<{ type: string; text?: string }>).map((c) => c.text ?? '').join('\n');
}

describe('published servers from npm', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  const env: Record<string, string> = {};
  for (const name of NETWORK_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];

  before(async () => {
    node = await startBerth({ env });
    // Two installs at a time, as many as a node runs at once: two through the CLI, two through /v1.
    const [cli] = await Promise.all([
      (async () => [
        await berth(node, ['deploy', `npm:${MEMORY}`, '--name', 'memory', '--env', 'MEMORY_FILE_PATH=/workspace/memory.jsonl']),
        await berth(node, ['deploy', `npm:${FILESYSTEM}`, '--name', 'files'], ['/workspace']),
      ])(),
      (async () => {
        for (const [name, pkg] of [
          ['thinking', 'server-sequential-thinking'],
          ['everything', 'server-everything'],
        ] as const) {
          const installed = await installThroughV1(node, { npm: `@modelcontextprotocol/${pkg}@${VERSION}` });
          assert.equal(installed.status, 201, JSON.stringify(installed.body));
          assert.deepEqual(installed.body.package, { name: `@modelcontextprotocol/${pkg}`, version: VERSION, bin: `mcp-${pkg}` });
          await node.api.deploy(name, { artifactId: installed.body.artifactId as string, command: installed.body.command as string, transport: 'stdio' });
        }
      })(),
    ]);
    for (const run of cli) assert.equal(run.code, 0, run.stderr);
  });
  after(async () => {
    await node?.stop();
  });

  test('berth deploy npm: installs on the node and prints the runtime and version', async () => {
    const runtimes = await node.api.runtimes();
    const memory = runtimes.find((r) => r.name === 'memory');
    assert.equal(memory?.spec.command, 'node node_modules/@modelcontextprotocol/server-memory/dist/index.js');
    assert.equal(memory?.spec.transport, 'stdio');
    assert.equal(runtimes.find((r) => r.name === 'files')?.spec.command, 'node node_modules/@modelcontextprotocol/server-filesystem/dist/index.js /workspace');
    // The CLI's own answer, on a second version.
    const again = await berth(node, ['deploy', `npm:${MEMORY}`, '--name', 'memory', '--env', 'MEMORY_FILE_PATH=/workspace/memory.jsonl']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'memory v2\n');
    // Its last word is what it installed; before it, on an install that takes more than two seconds, its progress.
    const lines = again.stderr.trimEnd().split('\n');
    assert.match(
      lines.at(-1) ?? '',
      new RegExp(
        `^installed @modelcontextprotocol/server-memory@${VERSION} \\(art_[a-z2-7]+\\): node node_modules/@modelcontextprotocol/server-memory/dist/index\\.js$`,
      ),
    );
    for (const line of lines.slice(0, -1))
      assert.match(line, new RegExp(`^installing npm:${MEMORY.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} on the node( \\(\\d+ s\\)|: done in \\d+ s)$`));
  });

  test('server-memory keeps its graph within a session, and each session has its own', async () => {
    const session = await connectSession(node.url, 'memory');
    try {
      await session.client.callTool({
        name: 'create_entities',
        arguments: { entities: [{ name: 'berth', entityType: 'project', observations: ['runs MCP servers'] }] },
      });
      const graph = (await session.call('read_graph')) as { entities: Array<{ name: string; observations: string[] }> };
      assert.deepEqual(
        graph.entities.map((e) => [e.name, e.observations]),
        [['berth', ['runs MCP servers']]],
      );
    } finally {
      await session.close();
    }
    const other = await connectSession(node.url, 'memory');
    try {
      assert.deepEqual(((await other.call('read_graph')) as { entities: unknown[] }).entities, []);
    } finally {
      await other.close();
    }
  });

  test('server-filesystem given /workspace writes and reads a file there', async () => {
    const session = await connectSession(node.url, 'files');
    try {
      const written = await session.client.callTool({ name: 'write_file', arguments: { path: '/workspace/hello.txt', content: 'hello from berth' } });
      assert.notEqual(written.isError, true, texts(written));
      const read = await session.client.callTool({ name: 'read_text_file', arguments: { path: '/workspace/hello.txt' } });
      assert.equal(texts(read), 'hello from berth');
      const outside = await session.client.callTool({ name: 'read_text_file', arguments: { path: '/app/package.json' } });
      assert.equal(outside.isError, true);
    } finally {
      await session.close();
    }
  });

  test('server-sequential-thinking and server-everything list their tools and answer', async () => {
    const thinking = await connectSession(node.url, 'thinking');
    try {
      assert.ok((await thinking.client.listTools()).tools.some((t) => t.name === 'sequentialthinking'));
    } finally {
      await thinking.close();
    }
    const everything = await connectSession(node.url, 'everything');
    try {
      const tools = (await everything.client.listTools()).tools.map((t) => t.name);
      assert.ok(tools.includes('echo'), tools.join(','));
      assert.match(texts(await everything.client.callTool({ name: 'echo', arguments: { message: 'through berth' } })), /through berth/);
    } finally {
      await everything.close();
    }
  });

  test('no such package, a package without a bin, and hostile specs are clear errors that leave nothing', async () => {
    const missing = await installThroughV1(node, { npm: '@berth-test-nobody/no-such-server' });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body.error && (missing.body.error as { code: string }).code, 'not_found');
    assert.match((missing.body.error as { message: string }).message, /registry has no package @berth-test-nobody\/no-such-server/);

    const library = await installThroughV1(node, { npm: 'ms@2.1.3' });
    assert.equal(library.status, 400);
    assert.match((library.body.error as { message: string }).message, /package ms has no bin/);

    for (const npm of ['--registry=http://evil.example', 'file:../x', 'git+https://evil.example/x.git', 'pkg@$(id)', '../../etc', '@scope/']) {
      const hostile = await installThroughV1(node, { npm });
      assert.equal(hostile.status, 400, npm);
      assert.match((hostile.body.error as { message: string }).message, /is not an npm package/);
    }
    const shape = await installThroughV1(node, { npm: 'ms', registry: 'http://evil.example' });
    assert.equal(shape.status, 400);

    const cli = await berth(node, ['deploy', 'npm:@berth-test-nobody/no-such-server', '--name', 'nothing']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^berth deploy: npm's registry has no package @berth-test-nobody\/no-such-server/);
    const flags = await berth(node, ['deploy', 'npm:ms', '--name', 'nothing', '--command', 'node x.js']);
    assert.equal(flags.code, 2);
    assert.match(flags.stderr, /--command goes with a directory/);
    const dir = mkdtempSync(join(tmpdir(), 'berth-npx-'));
    try {
      writeFileSync(join(dir, 'README'), 'nothing to run: the command downloads its server');
      const npx = await berth(node, [
        'deploy',
        dir,
        '--name',
        'npx-files',
        '--transport',
        'stdio',
        '--command',
        'npx -y @modelcontextprotocol/server-filesystem /workspace',
      ]);
      assert.equal(npx.code, 0, npx.stderr);
      assert.match(
        npx.stderr,
        /"npx" downloads the server when it starts, but a sandbox has no network.*berth deploy npm:@modelcontextprotocol\/server-filesystem --name npx-files -- \/workspace\n$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    assert.deepEqual(
      readdirSync(join(node.home, 'artifacts')).filter((name) => name.startsWith('.incoming-')),
      [],
    );
    assert.equal(
      (await node.api.runtimes()).some((r) => r.name === 'nothing'),
      false,
    );
  });
});
