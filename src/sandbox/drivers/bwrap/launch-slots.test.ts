/**
 * Launch slots (issue 17): a sandbox's first process is started ahead, already in its cgroups, so the kernel's wait
 * on a first `cgroup.procs` write and berth's fork are paid before a session asks. Pinned without timing: a ready
 * slot's shell is in every one of its cgroups and waits; a taken slot is replaced; a dead one is never handed out;
 * and discarding or closing leaves no process, cgroup, directory or uid behind.
 */
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../../observability/logger.ts';
import { CgroupRoot, type SandboxCgroups } from '../../cgroups.ts';
import type { SandboxDirs } from '../../layout.ts';
import { waitFor } from '../../../../test/helpers/wait.ts';
import { BwrapDriver } from './driver.ts';
import { LaunchSlots, makeLaunchSlot, type LaunchSlot, type LaunchSlotOptions } from './launch-slots.ts';
import { buildSeccompFilter } from './seccomp.ts';
import { SlotFactory } from './slot-factory.ts';
import { UidPool } from './uids.ts';

/** The slot factory's children that are launch slots' shells, still alive and waiting. */
function waitingShells(factory: SlotFactory): number[] {
  const pid = factory.pid as number;
  const children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
  );
  return children.filter((child) => alive(child) && readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('berth-sandbox'));
}

const alive = (pid: number | undefined): boolean =>
  pid !== undefined && existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('launch slots', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let state: string;
  let options: LaunchSlotOptions;
  let cgroups: CgroupRoot;
  const factory = new SlotFactory(silentLogger);
  const released: number[] = [];
  /** Slots a test took, discarded however it ends. */
  const held: LaunchSlot[] = [];
  const uids = new UidPool(260_000 + (process.pid % 1000) * 20, 20);

  before(() => {
    state = mkdtempSync(join(tmpdir(), 'berth-slots-'));
    // Sandbox uids reach their run directories by path, as under the driver's state directory.
    chmodSync(state, 0o711);
    cgroups = CgroupRoot.open(`slots-${process.pid}`);
    const seccompPath = join(state, 'seccomp.bpf');
    writeFileSync(seccompPath, buildSeccompFilter());
    options = {
      stateDir: state,
      bwrap: '/usr/bin/bwrap',
      seccompPath,
      uids,
      cgroups,
      factory,
      logger: silentLogger,
      release: async (uid: number, dirs: SandboxDirs, own: SandboxCgroups | undefined) => {
        await own?.destroy();
        dirs.remove();
        uids.release(uid);
        released.push(uid);
      },
    };
  });
  after(async () => {
    await factory.close();
    cgroups?.removeParents();
    rmSync(state, { recursive: true, force: true });
  });

  test("a ready slot's shell sits in each of its cgroups, waiting; made a sandbox's, all of it takes the sandbox's name; discarded, nothing is left", async () => {
    const slot = await makeLaunchSlot(options);
    const pid = slot.child.pid as number;
    let discarded = false;
    try {
      // The shell writes itself into its cgroups first, then waits for its go line.
      const before = cgroups.adopt(slot.id);
      await waitFor(() => before.pids().includes(pid), 'the shell to join its cgroups');
      assert.ok(alive(pid), 'it waits to be told what to run');
      const { dirs, cgroups: own, channelPath } = await slot.become('sbx_renamedone');
      // The workspace and run directory are tmpfs mounts inside the sandbox: on the host, only berth's channel socket.
      assert.deepEqual(readdirSync(dirs.root), ['c.sock']);
      assert.equal(dirs.root, join(state, 'sbx_renamedone'));
      assert.ok(existsSync(channelPath), 'its channel socket moved with its directory');
      assert.ok(!existsSync(join(state, slot.id)));
      if (cgroups.version === 1) {
        assert.ok(own.procsFiles.every((file) => file.includes('/sbx_renamedone/')));
        for (const file of own.procsFiles) assert.ok(readFileSync(file, 'utf8').split('\n').includes(String(pid)), `${file} still holds the shell`);
      }
      discarded = true;
      await slot.discard();
      assert.ok(!alive(pid));
      assert.ok(!existsSync(dirs.root), 'its directories are gone');
      assert.ok(
        own.procsFiles.every((file) => !existsSync(file)),
        'its cgroups are gone',
      );
      assert.ok(released.includes(slot.uid), 'its uid is given back');
    } finally {
      // A failed assertion must not leave the slot's shell and cgroups behind.
      if (!discarded) await slot.discard();
      await Promise.all(held.splice(0).map((other) => other.discard()));
    }
  });

  test('a start takes a slot made ahead, which is then replaced; close ends every waiting shell', async () => {
    const slots = new LaunchSlots(options);
    let waiting: number[] = [];
    try {
      await waitFor(() => slots.ready === 2, 'two slots to be ready');
      waiting = waitingShells(factory);
      assert.equal(waiting.length, 2);
      const taken = await slots.take();
      held.push(taken);
      assert.ok(waiting.includes(taken.child.pid as number), 'the start got a shell that was waiting before it asked');
      await waitFor(() => slots.ready === 2, 'the taken slot to be replaced');
    } finally {
      await Promise.all(held.splice(0).map((slot) => slot.discard()));
      await slots.close();
    }
    assert.deepEqual(waitingShells(factory), [], 'no shell outlives close');
  });

  test('slots whose shells died while they waited are never handed out', async () => {
    const slots = new LaunchSlots(options);
    try {
      await waitFor(() => slots.ready === 2, 'two slots to be ready');
      const killed = waitingShells(factory);
      for (const pid of killed) process.kill(pid, 'SIGKILL');
      await waitFor(() => waitingShells(factory).length === 0, 'the shells to die');
      const given = await slots.take();
      held.push(given);
      assert.ok(alive(given.child.pid) && !killed.includes(given.child.pid as number), 'a live shell of a new slot');
    } finally {
      await Promise.all(held.splice(0).map((slot) => slot.discard()));
      await slots.close();
    }
  });

  test('close waits for the discard of a slot that was still being made as it closed, so no sandbox cgroup outlives it', async () => {
    let closing: Promise<void> | undefined;
    // Close from inside the slot's making (as its cgroups are made), and let the discard that follows take its time.
    const hooked = new Proxy(cgroups, {
      get(target, property) {
        if (property === 'create')
          return (...args: Parameters<CgroupRoot['create']>) => {
            const made = target.create(...args);
            // The slot is made from the refill's timer, after the constructor below has returned.
            closing ??= slots.close();
            return made;
          };
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const slots: LaunchSlots = new LaunchSlots({
      ...options,
      cgroups: hooked,
      release: async (...args) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        await options.release(...args);
      },
    });
    await waitFor(() => closing !== undefined, 'close to be called while the slot is made');
    await closing;
    // A sandbox's cgroup.procs files name their parents: <parent>/<id>/cgroup.procs.
    for (const parent of new Set(cgroups.adopt('sbx_none').procsFiles.map((file) => dirname(dirname(file))))) {
      assert.deepEqual(
        readdirSync(parent).filter((name) => name.startsWith('sbx_')),
        [],
        `${parent} holds no sandbox cgroup once close is over`,
      );
    }
    assert.deepEqual(waitingShells(factory), []);
  });
});
