/**
 * The contract every sandbox driver passes. A driver's test file calls `runDriverContract` with a factory; tests a
 * driver cannot pass on this machine are listed in `skip` with the reason, never silently dropped. Isolation checks
 * run only for drivers that claim isolation (`driver.isolated`).
 *
 * The fixture is the counter server from test/fixtures (bundled by the caller into `fixtureDir`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test as nodeTest, type TestContext } from 'node:test';
import { text as readText } from 'node:stream/consumers';
import { CHANNEL_COMMANDS_PATH, CHANNEL_MCP_PATH } from '../../src/core/channel.ts';
import { isBerthError } from '../../src/core/errors.ts';
import { randomId } from '../../src/core/ids.ts';
import { channelClient } from '../../src/sandbox/channel-client.ts';
import type { Sandbox, SandboxDriver, SandboxSpec } from '../../src/sandbox/driver.ts';

export interface ContractOptions {
  /** Makes a fresh driver; called once for the suite. */
  makeDriver: () => Promise<SandboxDriver> | SandboxDriver;
  /** Directory holding the bundled counter fixture as `server.js`. */
  fixtureDir: () => Promise<string>;
  /** Directories of the two misbehaving fixtures, bundled the same way. */
  neverListensDir: () => Promise<string>;
  /** Why the whole suite cannot run here, if it cannot. */
  unsupported?: string;
  /** Tests this driver cannot pass, by title, each with the reason. */
  skip?: Record<string, string>;
}

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};

let nextId = 1;

/** Calls a tool through the sandbox's channel, as the edge does, and returns its parsed text result. */
export async function callTool(sandbox: Sandbox, name: string, args: Record<string, unknown> = {}): Promise<unknown> {
  const answer = await channelClient(sandbox).request({
    path: CHANNEL_MCP_PATH,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': name,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args, _meta: META } }),
  });
  const text = await readText(answer.body);
  if (answer.statusCode !== 200) throw new Error(`channel answered ${answer.statusCode}: ${text}`);
  const message = JSON.parse(text) as { result?: { content: Array<{ text: string }> }; error?: unknown };
  if (!message.result) throw new Error(`tool ${name} failed: ${text}`);
  return JSON.parse(message.result.content[0]?.text ?? 'null');
}

export function contractSpec(dir: string, transport: 'stdio' | 'http', overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id: randomId('sbx'),
    runtime: 'contract',
    artifactDir: dir,
    command: `node server.js ${transport}`,
    protocol: 'mcp',
    transport,
    port: 8000,
    path: '/mcp',
    env: { CONTRACT_VAR: 'declared' },
    logBytes: 64 * 1024,
    limits: { memoryBytes: 512 * 1024 * 1024, pids: 128, cpus: 1, tmpBytes: 16 * 1024 * 1024, workspaceBytes: 16 * 1024 * 1024, openFiles: 256 },
    startTimeoutMs: 15_000,
    era: 'auto',
    inputTimeoutMs: 60_000,
    perSession: { subscriptions: 256, listeners: 16, pendingInputs: 64 },
    ...overrides,
  };
}

export function runDriverContract(name: string, options: ContractOptions): void {
  describe(`sandbox driver contract: ${name}`, { skip: options.unsupported ?? false }, () => {
    let driver: SandboxDriver;
    let dir: string;
    before(async () => {
      driver = await options.makeDriver();
      dir = await options.fixtureDir();
    });
    after(async () => {
      await driver?.close();
    });

    const test = (title: string, fn: (t: TestContext) => Promise<void>): void => {
      nodeTest(title, { skip: options.skip?.[title] ?? false }, fn);
    };

    for (const transport of ['stdio', 'http'] as const) {
      test(`${transport}: serves calls through the channel and keeps state across them`, async () => {
        const sandbox = await driver.start(contractSpec(dir, transport));
        try {
          assert.ok(sandbox.pid > 0);
          for (let i = 1; i <= 5; i++) assert.deepEqual(await callTool(sandbox, 'increment'), { count: i });
          assert.deepEqual(await callTool(sandbox, 'write_file', { name: 'note.txt', content: 'kept' }), { ok: true });
          assert.deepEqual(await callTool(sandbox, 'read_file', { name: 'note.txt' }), { ok: true, value: 'kept' });
        } finally {
          await sandbox.stop();
        }
        assert.equal((await sandbox.exited).reason, 'stopped');
      });
    }

    test('the server sees only the declared environment, a writable HOME and its artifact as working directory', async () => {
      const sandbox = await driver.start(contractSpec(dir, 'http'));
      try {
        const me = (await callTool(sandbox, 'whoami')) as { env: Record<string, string>; cwd: string; home: string };
        assert.deepEqual(Object.keys(me.env).sort(), ['CONTRACT_VAR', 'HOME', 'PATH', 'PORT']);
        assert.equal(me.env.CONTRACT_VAR, 'declared');
        // Isolating drivers give the server the runtime's port; the process driver picks a free one.
        if (driver.isolated) assert.equal(me.env.PORT, '8000');
        else assert.match(me.env.PORT ?? '', /^\d+$/);
        assert.deepEqual(await callTool(sandbox, 'write_file', { name: 'x', content: 'y' }), { ok: true });
        if (driver.isolated) {
          const write = (await callTool(sandbox, 'probe_write', { path: `${me.cwd}/server.js` })) as { ok: boolean; error: string };
          assert.equal(write.ok, false, 'the artifact must be read-only');
        }
      } finally {
        await sandbox.stop();
      }
    });

    test('a command runs beside the server with its environment and working directory', async () => {
      const sandbox = await driver.start(contractSpec(dir, 'stdio'));
      try {
        const me = (await callTool(sandbox, 'whoami')) as { cwd: string; home: string };
        const answer = await channelClient(sandbox).request({
          path: CHANNEL_COMMANDS_PATH,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ command: 'echo "$CONTRACT_VAR"; pwd; echo "$HOME"; echo err >&2; exit 4', timeoutSeconds: 10 }),
        });
        assert.equal(answer.statusCode, 200);
        assert.equal(answer.headers['content-type'], 'application/x-ndjson');
        const events = (await readText(answer.body))
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        const stdout = events.map((event) => event.stdout ?? '').join('');
        assert.equal(stdout, `declared\n${me.cwd}\n${me.home}\n`);
        assert.equal(events.map((event) => event.stderr ?? '').join(''), 'err\n');
        assert.deepEqual(events.at(-1), { exit: { exitCode: 4, status: 'COMPLETED' } });
      } finally {
        await sandbox.stop();
      }
    });

    test('stop ends every process of the sandbox and is idempotent', async () => {
      const sandbox = await driver.start(contractSpec(dir, 'stdio'));
      const { started } = (await callTool(sandbox, 'fork_bomb', { n: 3 })) as { started: number };
      assert.equal(started, 3);
      await Promise.all([sandbox.stop(), sandbox.stop()]);
      assert.throws(() => process.kill(sandbox.pid, 0), /ESRCH/);
      await assert.rejects(callTool(sandbox, 'get_count'));
    });

    test('a server that exits ends its sandbox, with its exit code', async () => {
      const sandbox = await driver.start(contractSpec(dir, 'stdio'));
      await assert.rejects(callTool(sandbox, 'crash', { code: 7 }));
      const exit = await sandbox.exited;
      assert.equal(exit.reason, 'server-exit');
      assert.equal(exit.exitCode, 7);
    });

    test('a server that never listens fails the start with an error naming the runtime', async () => {
      const never = await options.neverListensDir();
      await assert.rejects(
        driver.start(contractSpec(never, 'http', { runtime: 'stuck', startTimeoutMs: 800 })),
        (error) =>
          isBerthError(error) && error.code === 'server_start_timeout' && /runtime "stuck"/.test(error.message) && /listen on port \d+/.test(error.message),
      );
    });

    test('a command that does not exist fails the start with a clear error', async () => {
      await assert.rejects(
        driver.start(contractSpec(dir, 'stdio', { runtime: 'typo', command: 'nodee server.js' })),
        (error) => isBerthError(error) && error.code === 'sandbox_failed' && /runtime "typo"/.test(error.message) && /nodee/.test(error.message),
      );
    });

    describe('isolation', () => {
      test('sandboxes do not see each other: files, processes, host loopback', async (t) => {
        if (!driver.isolated) {
          t.skip(`driver "${driver.name}" does not isolate`);
          return;
        }
        const a = await driver.start(contractSpec(dir, 'stdio'));
        const b = await driver.start(contractSpec(dir, 'http'));
        try {
          await callTool(a, 'write_file', { name: 'secret.txt', content: 'a-only' });
          assert.deepEqual(await callTool(b, 'list_files'), { ok: true, value: [] });
          const seen = (await callTool(b, 'probe_processes')) as { value: string[] };
          assert.ok(!seen.value.some((line) => line.includes(a.id)), `b sees a's processes: ${seen.value.join('; ')}`);
          const me = (await callTool(b, 'whoami')) as { pid: number };
          assert.ok(me.pid < 100, `pid ${me.pid} should be low in a fresh pid namespace`);
        } finally {
          await Promise.all([a.stop(), b.stop()]);
        }
      });
    });

    // Last: it closes the driver (the suite's `after` closes it again, which does nothing more).
    test('close ends sandboxes that ended on their own or were still starting, and waits until each is cleaned up', async () => {
      // Regressions: a sandbox left the driver's books when its cleanup began, and a start under way was on none,
      // so a close meanwhile removed the parents of cgroups not yet gone, and left them behind.
      const sandbox = await driver.start(contractSpec(dir, 'stdio'));
      let cleaned = false;
      void sandbox.exited.then(() => (cleaned = true));
      process.kill(sandbox.pid, 'SIGKILL');
      await sandbox.closing;
      let lateCleaned = false;
      const starting = driver.start(contractSpec(dir, 'stdio')).then(
        (late) => {
          void late.exited.then(() => (lateCleaned = true));
        },
        () => (lateCleaned = true),
      );
      await driver.close();
      await starting;
      assert.ok(cleaned, 'close returned before the sandbox that ended on its own was cleaned up');
      assert.ok(lateCleaned, 'close returned before the sandbox being started was cleaned up');
      await assert.rejects(driver.start(contractSpec(dir, 'stdio')), /starts no more sandboxes/);
    });
  });
}
