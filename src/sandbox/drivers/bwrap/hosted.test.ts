/**
 * Sandboxes whose stdio server berth supervises from its own process (issue 17): what they no longer run, and what
 * still works without a supervisor inside. The shared driver contract covers the rest (calls, state, commands, exits).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHANNEL_COMMANDS_PATH } from '../../../core/channel.ts';
import { callTool, contractSpec } from '../../../../test/helpers/driver-contract.ts';
import { fixtureDir } from '../../../../test/helpers/fixtures.ts';
import { superviseOnHost } from '../../../../test/helpers/host-supervision.ts';
import { silentLogger } from '../../../observability/logger.ts';
import { channelClient } from '../../channel-client.ts';
import { buildSupervisor } from '../../supervisor-program.ts';
import { BwrapDriver } from './driver.ts';

const unsupported = BwrapDriver.unsupportedReason();

/** Every process of a sandbox, from its outer bwrap down, with its command line. */
function processesOf(outer: number): Array<{ pid: number; cmdline: string }> {
  const found = [outer];
  for (let i = 0; i < found.length; i++) {
    const pid = found[i] as number;
    for (const task of safe(() => readdirSync(`/proc/${pid}/task`), [])) {
      const children = safe(() => readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8'), '');
      found.push(...children.split(' ').filter(Boolean).map(Number));
    }
  }
  return found.map((pid) => ({ pid, cmdline: safe(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim(), '') }));
}

function safe<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

const supervisors = (outer: number): number => processesOf(outer).filter((p) => p.cmdline.includes('/opt/berth/supervisor.cjs')).length;

async function runCommand(sandbox: Parameters<typeof channelClient>[0], command: string): Promise<string> {
  const answer = await channelClient(sandbox).request({
    path: CHANNEL_COMMANDS_PATH,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ command, timeoutSeconds: 10 }),
  });
  let text = '';
  for await (const chunk of answer.body) text += String(chunk);
  assert.equal(answer.statusCode, 200, text);
  return text;
}

describe('hosted stdio servers on the bwrap driver', { skip: unsupported }, () => {
  const state = mkdtempSync(join(tmpdir(), 'berth-bwrap-hosted-'));
  chmodSync(state, 0o711);
  let driver: BwrapDriver;
  let dir: string;

  before(async () => {
    dir = await fixtureDir('counter-server');
    driver = BwrapDriver.create({
      stateDir: join(state, 'sandboxes'),
      supervisorPath: await buildSupervisor(join(state, 'cache')),
      nodePath: realpathSync(process.execPath),
      uidBase: 300_000 + (process.pid % 1000) * 20,
      uidCount: 20,
      logger: silentLogger,
      superviseOnHost,
    });
  });

  after(async () => {
    await driver?.close();
    rmSync(state, { recursive: true, force: true });
  });

  test("a stdio server's sandbox runs no supervisor, and the server holds only its stdio of berth's descriptors", async () => {
    const sandbox = await driver.start(contractSpec(dir, 'stdio'));
    try {
      assert.deepEqual(await callTool(sandbox, 'increment'), { count: 1 });
      assert.equal(supervisors(sandbox.pid), 0, 'no supervisor runs in the sandbox');
      const nodes = processesOf(sandbox.pid).filter((p) => p.cmdline.startsWith('node ') || p.cmdline.includes('/bin/node '));
      assert.deepEqual(
        nodes.map((p) => p.cmdline),
        ['node server.js stdio'],
        'the one Node process is the server',
      );
      const server = nodes[0]?.pid as number;
      // Pipes from berth, not FIFOs in the run directory: nothing in the sandbox has a path to swap for a link.
      assert.match(link(server, 0), /^socket:\[\d+\]$/);
      assert.match(link(server, 1), /^socket:\[\d+\]$/);
      // The launcher's shells hold the channel's listening socket and their lines to berth; the server none of them.
      const shells = processesOf(sandbox.pid).filter((p) => p.cmdline.startsWith('/bin/sh -c unset PWD'));
      assert.equal(shells.length, 2, 'the launcher, and the shell that waits on the server');
      const stdio = new Set([0, 1, 2].map((fd) => link(server, fd)));
      const theirs = new Set(
        shells.flatMap((shell) =>
          descriptors(shell.pid)
            .map(([, target]) => target)
            .filter((target) => /^(socket|pipe):/.test(target) && !stdio.has(target)),
        ),
      );
      assert.ok(theirs.size >= 3, `the channel socket and both launcher lines are held: ${[...theirs].join(', ')}`);
      const leaked = descriptors(server).filter(([, target]) => theirs.has(target));
      assert.deepEqual(leaked, [], 'the server holds none of them');
      assert.deepEqual(await callTool(sandbox, 'increment'), { count: 2 });
    } finally {
      await sandbox.stop();
    }
  });

  test('an HTTP server keeps its supervisor', async () => {
    const sandbox = await driver.start(contractSpec(dir, 'http'));
    try {
      assert.deepEqual(await callTool(sandbox, 'increment'), { count: 1 });
      assert.equal(supervisors(sandbox.pid), 1);
    } finally {
      await sandbox.stop();
    }
  });

  test('the first command starts one command runner, which later commands reuse, and the server keeps its state', async () => {
    const sandbox = await driver.start(contractSpec(dir, 'stdio'));
    try {
      assert.deepEqual(await callTool(sandbox, 'increment'), { count: 1 });
      assert.match(await runCommand(sandbox, 'echo "$CONTRACT_VAR"'), /"stdout":"declared\\n"/);
      assert.equal(supervisors(sandbox.pid), 1, 'one runner after the first command');
      const answers = await Promise.all([runCommand(sandbox, 'echo one'), runCommand(sandbox, 'echo two')]);
      assert.match(answers.join(''), /one\\n[\s\S]*two\\n/);
      assert.equal(supervisors(sandbox.pid), 1, 'still one runner');
      assert.deepEqual(await callTool(sandbox, 'increment'), { count: 2 });
    } finally {
      await sandbox.stop();
    }
  });

  test('a call cut short by stopping its sandbox loses its connection; nobody is told the server crashed', async () => {
    const sandbox = await driver.start(contractSpec(dir, 'stdio'));
    const outcome = callTool(sandbox, 'slow', { steps: 50, delayMs: 100 }).then(
      () => undefined,
      (error: Error) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await sandbox.stop();
    const error = await outcome;
    assert.ok(error instanceof Error, 'the call did not complete');
    assert.doesNotMatch(error.message, /server_crashed|exited/);
    assert.equal((await sandbox.exited).reason, 'stopped');
  });
});

function link(pid: number, fd: number): string {
  return safe(() => readlinkSync(`/proc/${pid}/fd/${fd}`), '');
}

/** A process's open descriptors and what each is. */
function descriptors(pid: number): Array<[number, string]> {
  return safe(() => readdirSync(`/proc/${pid}/fd`), []).map((fd) => [Number(fd), link(pid, Number(fd))]);
}
