/**
 * The escape battery: a hostile MCP server (test/fixtures/hostile-server.ts) tries every way out it knows, in a
 * real berth node, on every driver that isolates and can run here. Every attempt must fail, and the host and a
 * bystander session must stay healthy throughout. The table of attempts and outcomes is printed per driver.
 *
 * The process driver is left out on purpose: it does not isolate (berth says so loudly), so there is nothing to
 * prove.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { GvisorDriver } from '../../src/sandbox/drivers/gvisor/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession, type SessionClient } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

/** Each driver, where under berth's home its sandboxes' private directories live, and where a sandbox's channel socket is in them. */
const DRIVERS: Array<{ name: 'bwrap' | 'gvisor'; skip: string | false; stateDir: string; channel: string }> = [
  { name: 'bwrap', skip: BwrapDriver.unsupportedReason() ?? false, stateDir: 'sandboxes', channel: 'c.sock' },
  { name: 'gvisor', skip: GvisorDriver.unsupportedReason() ?? false, stateDir: 'gvisor', channel: 'channel/c.sock' },
];

/** The machine's first non-loopback IPv4 address, which a sandbox must not reach either. */
function hostIp(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const address of list ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return '10.0.0.1';
}

for (const driver of DRIVERS) {
  describe(`escape battery on the ${driver.name} driver`, { skip: driver.skip }, () => {
    let node: BerthNode;
    let hostService: Server;
    let outside: Server;
    let bystander: SessionClient;
    const secret = join(tmpdir(), `berth-battery-secret-${process.pid}`);
    const target: Record<string, unknown> = {};

    before(async () => {
      writeFileSync(secret, 'host secret', { mode: 0o644 });
      hostService = createServer((socket) => socket.end('hello from the host\n'));
      await new Promise<void>((resolve) => hostService.listen(0, '127.0.0.1', resolve));
      // A service on the host's address, which the hostile runtime's allowlist lets it reach through berth's proxy.
      outside = createHttpServer((_req, res) => res.end('hello from outside\n'));
      await new Promise<void>((resolve) => outside.listen(0, '0.0.0.0', resolve));
      node = await startBerth({ driver: driver.name });
      await deploy(node, 'hostile', await fixtureDir('hostile-server'), {
        transport: 'stdio',
        limits: { memoryMb: 256, pids: 64, workspaceMb: 8, openFiles: 256 },
        // A realistic allowlist, with names that resolve to loopback on this host for the proxy to see through.
        network: { mode: 'egress', allow: [`${hostIp()}/32`, 'localhost', hostname(), '*.example.org'] },
      });
      await deploy(node, 'bystander', await fixtureDir('counter-server'), { transport: 'stdio' });
      bystander = await connectSession(node.url, 'bystander', randomUUID());
      await bystander.call('write_file', { name: 'mine.txt', content: 'bystander data' });
      Object.assign(target, {
        hostFile: secret,
        berthHome: node.home,
        otherWorkspace: join(node.home, driver.stateDir),
        hostPort: (hostService.address() as { port: number }).port,
        berthPort: Number(new URL(node.url).port),
        berthPid: node.process.pid,
        hostIp: hostIp(),
        hostKernel: readFileSync('/proc/version', 'utf8').trim(),
        hostName: hostname(),
        allowedUrl: `http://${hostIp()}:${(outside.address() as { port: number }).port}/`,
      });
    });
    after(async () => {
      await bystander?.close();
      await node?.stop();
      hostService?.close();
      outside?.close();
      rmSync(secret, { force: true });
    });

    /** The memory limit ends the whole sandbox: the call fails and the session records why. */
    const memoryOutcome = async (hostile: SessionClient): Promise<{ escaped: boolean; detail: string }> => {
      try {
        const result = (await hostile.call('attempt', { name: 'exhaust memory', target })) as { escaped: boolean; detail: string };
        return result;
      } catch (error) {
        const session = async (): Promise<{ state?: string; exit?: { limit?: string } }> =>
          (await node.admin(`/v1/sessions/${hostile.sessionId}`)).json() as Promise<{ state?: string; exit?: { limit?: string } }>;
        await waitFor(async () => (await session()).state === 'ended', 'the hostile session to end');
        const ended = await session();
        return {
          escaped: ended.exit?.limit !== 'memory',
          detail: `session ended at its ${ended.exit?.limit ?? '?'} limit (${(error as Error).message.includes('server_crashed') ? 'its call failed: server_crashed' : (error as Error).message})`,
        };
      }
    };

    test('every attempt fails, and the host and other sessions stay healthy', { timeout: 180_000 }, async () => {
      const hostile = await connectSession(node.url, 'hostile', randomUUID());
      const rows: Array<{ attempt: string; outcome: string; detail: string }> = [];
      try {
        const names = (await hostile.call('attempts')) as string[];
        const bystanderSandbox = (await node.api.sessions('bystander'))[0]?.sandboxId;
        // The bystander's real channel socket: in the driver's state directory, or in memory (gVisor's bundles).
        const shm = existsSync('/dev/shm')
          ? readdirSync('/dev/shm')
              .filter((name) => name.startsWith('berth-'))
              .map((name) => join('/dev/shm', name))
          : [];
        target.otherChannel = [join(node.home, driver.stateDir), ...shm]
          .map((dir) => join(dir, bystanderSandbox as string, driver.channel))
          .find((path) => existsSync(path));
        assert.ok(target.otherChannel, "the bystander's channel socket is found, so the attempts on it aim at a real one");
        assert.ok(names.length >= 30, `${names.length} attempts`);
        // The proxy works for what the list allows, so its refusals below are the policy's, not a broken proxy.
        assert.deepEqual(await hostile.call('fetch_allowed', { url: target.allowedUrl }), ['HTTP/1.1 200 OK | hello from outside']);
        let bystanderCount = ((await bystander.call('get_count')) as { count: number }).count;
        for (const name of names) {
          const result =
            name === 'exhaust memory'
              ? await memoryOutcome(hostile)
              : ((await hostile.call('attempt', { name, target })) as { escaped: boolean; detail: string });
          rows.push({ attempt: name, outcome: result.escaped ? 'ESCAPED' : 'refused', detail: result.detail });
          // After each attempt: berth answers, the bystander keeps its state and files.
          assert.equal((await fetch(`${node.url}/healthz`)).status, 200, `berth is healthy after "${name}"`);
          assert.deepEqual(await bystander.call('increment'), { count: ++bystanderCount }, `the bystander keeps its state after "${name}"`);
        }
        assert.deepEqual(await bystander.call('read_file', { name: 'mine.txt' }), { ok: true, value: 'bystander data' });
      } finally {
        const width = Math.max(...rows.map((row) => row.attempt.length));
        process.stdout.write(`\nescape battery, ${driver.name} driver: ${rows.length} attempts\n`);
        for (const row of rows) process.stdout.write(`  ${row.attempt.padEnd(width)}  ${row.outcome.padEnd(7)}  ${row.detail.slice(0, 110)}\n`);
        await hostile.close();
      }
      const escaped = rows.filter((row) => row.outcome !== 'refused');
      assert.deepEqual(escaped, [], 'no attempt got out');
    });
  });
}
