/**
 * Choosing gVisor per runtime: on a bwrap node, a runtime deployed with `driver: gvisor` gets its sessions on
 * gVisor's kernel while other runtimes stay on bwrap, and a node where runsc cannot run says why to exactly the
 * runtimes that need it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { GvisorDriver } from '../../src/sandbox/drivers/gvisor/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { runCommand } from '../helpers/commands.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';
import { RawShell } from '../helpers/shell-client.ts';

const HOST_KERNEL = readFileSync('/proc/version', 'utf8').trim();

async function sessionDriver(node: BerthNode, id: string): Promise<string> {
  const view = (await node.admin(`/v1/sessions/${id}`).then((r) => r.json())) as { driver?: string };
  return view.driver ?? '';
}

describe('a runtime chooses gVisor', { skip: BwrapDriver.unsupportedReason() ?? GvisorDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;

  before(async () => {
    node = await startBerth({ driver: 'bwrap' });
    const dir = await fixtureDir('counter-server');
    await deploy(node, 'strong', dir, { transport: 'http', driver: 'gvisor' });
    await deploy(node, 'plain', dir, { transport: 'http' });
  });
  after(async () => {
    await node?.stop();
  });

  test('its sessions run on gVisor and keep state; other runtimes stay on the node default', async () => {
    const strong = await connectSession(node.url, 'strong', randomUUID());
    const plain = await connectSession(node.url, 'plain', randomUUID());
    try {
      for (let i = 1; i <= 3; i++) assert.deepEqual(await strong.call('increment'), { count: i });
      assert.deepEqual(await plain.call('increment'), { count: 1 });
      assert.equal(await sessionDriver(node, strong.sessionId), 'gvisor');
      assert.equal(await sessionDriver(node, plain.sessionId), 'bwrap');
      const spec = (await node.admin(`/v1/runtimes/strong`).then((r) => r.json())) as { spec: { driver?: string } };
      assert.equal(spec.spec.driver, 'gvisor');
      const kernel = await runCommand(node.url, 'strong', strong.sessionId, 'cat /proc/version');
      assert.notEqual(kernel.stdout.trim(), HOST_KERNEL, "the gVisor session's kernel is not the host's");
      const own = await runCommand(node.url, 'plain', plain.sessionId, 'cat /proc/version');
      assert.equal(own.stdout.trim(), HOST_KERNEL);
    } finally {
      await Promise.allSettled([strong.close(), plain.close()]);
    }
  });

  test("a gVisor session's shell runs a PTY on gVisor's kernel", async () => {
    const session = await connectSession(node.url, 'strong', randomUUID());
    try {
      await session.call('increment');
      const shell = new RawShell(`${node.url.replace('http:', 'ws:')}/runtimes/strong/ws/shells?shellId=g`, { [SESSION_HEADER]: session.sessionId });
      await shell.opened();
      shell.type('echo tty=$(tty); cat /proc/version; exit\n');
      await shell.closed;
      const { output } = shell;
      assert.match(output, /tty=\/dev\/pts\//);
      assert.ok(!output.includes(HOST_KERNEL), "the shell's kernel is gVisor's");
    } finally {
      await session.close();
    }
  });

  test('a driver a runtime may not choose is refused at deploy', async () => {
    const response = await node.admin(`/v1/runtimes/loose`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ artifactId: 'art_aaaa', command: 'node server.js', driver: 'process' }),
    });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: { message: string } }).error.message, /driver/);
  });
});

describe('a node where runsc cannot run', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;

  before(async () => {
    node = await startBerth({ driver: 'bwrap', env: { BERTH_RUNSC: '/nonexistent/runsc' } });
    const dir = await fixtureDir('counter-server');
    await deploy(node, 'strong', dir, { transport: 'stdio', driver: 'gvisor' });
    await deploy(node, 'plain', dir, { transport: 'stdio' });
  });
  after(async () => {
    await node?.stop();
  });

  test('fails the sessions of runtimes that need gVisor with the reason, and serves the rest', async () => {
    const answer = await runCommand(node.url, 'strong', randomUUID(), 'true').catch((error: Error) => error);
    const text = answer instanceof Error ? answer.message : JSON.stringify(answer.events);
    assert.match(text, /needs the gvisor driver, which cannot run on this node: runsc is not installed/);
    const plain = await connectSession(node.url, 'plain', randomUUID());
    try {
      assert.deepEqual(await plain.call('increment'), { count: 1 });
    } finally {
      await plain.close();
    }
  });
});
