/**
 * Nothing survives a session: once it ends, its processes (a detached one too), its memory, its /tmp and its
 * workspace are gone from the host, and a new session with the same id starts from nothing. Checked from the host
 * (no process left in the sandbox's cgroups, no cgroup, no private directory) and from inside the new session. Run
 * on every isolating driver that can run here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { GvisorDriver } from '../../src/sandbox/drivers/gvisor/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { runCommand } from '../helpers/commands.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';

const DRIVERS = [
  { name: 'bwrap', skip: BwrapDriver.unsupportedReason() ?? false, stateDir: 'sandboxes' },
  { name: 'gvisor', skip: GvisorDriver.unsupportedReason() ?? false, stateDir: 'gvisor' },
] as const;

/** Host processes whose cgroup path names the sandbox: its server, supervisor and helpers, or gVisor's sentry and gofer. */
function hostProcessesOf(sandboxId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(`/${sandboxId}`)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The sandbox's cgroup directories, in every hierarchy. */
/** A sandbox's private directories: in the driver's state directory, or in memory (the gVisor driver's bundles). */
function privateDirsOf(home: string, stateDir: string, sandboxId: string): string[] {
  const inMemory = existsSync('/dev/shm')
    ? readdirSync('/dev/shm')
        .filter((name) => name.startsWith('berth-'))
        .map((name) => join('/dev/shm', name, sandboxId))
    : [];
  return [join(home, stateDir, sandboxId), ...inMemory].filter((dir) => existsSync(dir));
}

function cgroupsOf(sandboxId: string): string[] {
  const out = execFileSync('/usr/bin/find', ['/sys/fs/cgroup', '-maxdepth', '8', '-type', 'd', '-name', sandboxId], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

for (const driver of DRIVERS) {
  describe(`nothing survives a session on the ${driver.name} driver`, { skip: driver.skip }, () => {
    let node: BerthNode;
    before(async () => {
      node = await startBerth({ driver: driver.name });
      await deploy(node, 'counter', await fixtureDir('counter-server'), { transport: 'stdio' });
    });
    after(async () => {
      await node?.stop();
    });

    test('its processes, memory, /tmp and workspace go with it; the same id starts from nothing', async () => {
      const id = randomUUID();
      const marker = `survivor-${randomUUID().slice(0, 8)}`;
      const first = await connectSession(node.url, 'counter', id);
      let sandboxId: string;
      try {
        await first.call('increment');
        await first.call('write_file', { name: 'notes.txt', content: 'from the first session' });
        const setup = await runCommand(
          node.url,
          'counter',
          id,
          `echo kept > /tmp/${marker} && head -c 8388608 /dev/zero > /tmp/${marker}.ballast && (setsid sh -c 'sleep 300; : ${marker}' > /dev/null 2>&1 &) && sleep 0.2 && ps -eo args | grep -c '^sh -c [s]leep 300; : ${marker}'`,
        );
        assert.equal(setup.stdout, '1\n', 'a detached process runs in the first session');
        const info = (await node.api.sessions('counter')).find((entry) => entry.id === id);
        sandboxId = info?.sandboxId as string;
        assert.ok(sandboxId);
        assert.ok(hostProcessesOf(sandboxId).length > 0, 'the host sees the sandbox in its cgroups');
        assert.ok(cgroupsOf(sandboxId).length > 0, 'the sandbox has cgroups');
        assert.ok(privateDirsOf(node.home, driver.stateDir, sandboxId).length > 0, 'the sandbox has a private directory');
        assert.equal((await node.admin(`/v1/sessions/${id}`, { method: 'DELETE' })).status, 200);
      } finally {
        await first.close();
      }

      assert.deepEqual(hostProcessesOf(sandboxId), [], 'no process of the sandbox is left on the host');
      assert.deepEqual(cgroupsOf(sandboxId), [], 'its cgroups, and the memory they charged, are gone');
      assert.deepEqual(privateDirsOf(node.home, driver.stateDir, sandboxId), [], 'its private directory is gone');

      const second = await connectSession(node.url, 'counter', id);
      try {
        assert.deepEqual(await second.call('increment'), { count: 1 });
        assert.deepEqual(await second.call('list_files'), { ok: true, value: [] });
        const inside = await runCommand(node.url, 'counter', id, `ls -A /tmp; ls -A "$HOME"; ps -eo args | grep -c '^sh -c [s]leep 300; : ${marker}'`);
        assert.equal(inside.stdout, '0\n', 'an empty /tmp and workspace, and no process of the old session');
        const now = (await node.api.sessions('counter')).find((entry) => entry.id === id);
        assert.notEqual(now?.sandboxId, sandboxId, 'a new sandbox');
      } finally {
        await second.close();
      }
    });
  });
}
