/**
 * Per-runtime sandbox limits: memory, pids, CPU, workspace size and open files, each in place of the node's
 * default. Crossing one ends, throttles or refuses only that session, and the session records which limit and what
 * it did, in `GET /v1/sessions/{id}`, in its log and in berth's. Run on every isolating driver that can run here.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { GvisorDriver } from '../../src/sandbox/drivers/gvisor/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { runCommand } from '../helpers/commands.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

const SMALL = { memoryMb: 96, pids: 24, cpus: 0.5, workspaceMb: 4, openFiles: 128 };

interface Recorded {
  state?: string;
  limits: Array<{ limit: string; effect: string; detail: string; count: number; firstAt: string; lastAt: string }>;
}

async function sessionOf(node: BerthNode, id: string): Promise<Recorded> {
  return (await node.admin(`/v1/sessions/${id}`).then((r) => r.json())) as Recorded;
}

/** Waits until the session records `limit`, then checks what it did, and that the session's log and berth's say so. */
async function recorded(node: BerthNode, id: string, limit: string, effect: string, detail: RegExp): Promise<void> {
  await waitFor(async () => (await sessionOf(node, id)).limits.some((entry) => entry.limit === limit), `the session to record its ${limit} limit`);
  const entry = (await sessionOf(node, id)).limits.find((e) => e.limit === limit);
  assert.equal(entry?.effect, effect);
  assert.match(entry?.detail ?? '', detail);
  assert.ok((entry?.count ?? 0) >= 1 && Date.parse(entry?.firstAt ?? '') <= Date.parse(entry?.lastAt ?? ''));
  const logs = (await node.admin(`/v1/sessions/${id}/logs`).then((r) => r.json())) as { lines: Array<{ line: string }> };
  assert.ok(
    logs.lines.some((line) => line.line === `berth: ${entry?.detail}` || (line.line.startsWith('berth: ') && detail.test(line.line))),
    `the session's log says it: ${JSON.stringify(logs.lines.slice(-5))}`,
  );
  assert.match(node.logs(), new RegExp(`session reached a limit.*session=${id}.*limit=${limit}|session=${id}.*session reached a limit.*limit=${limit}`));
}

const DRIVERS = [
  { name: 'bwrap', skip: BwrapDriver.unsupportedReason() ?? false },
  { name: 'gvisor', skip: GvisorDriver.unsupportedReason() ?? false },
] as const;

for (const driver of DRIVERS)
  describe(`per-runtime limits on the ${driver.name} driver`, { skip: driver.skip }, () => {
    let node: BerthNode;

    before(async () => {
      node = await startBerth({ driver: driver.name, env: { BERTH_SANDBOX_WORKSPACE_MB: '32', BERTH_SANDBOX_OPEN_FILES: '512' } });
      const dir = await fixtureDir('counter-server');
      await deploy(node, 'small', dir, { transport: 'stdio', limits: SMALL });
      await deploy(node, 'roomy', dir, { transport: 'stdio' });
    });
    after(async () => {
      await node?.stop();
    });

    test("a runtime's own limits are kept with its version and shown back; the node's defaults fill the rest", async () => {
      const small = (await node.admin(`/v1/runtimes/small`).then((r) => r.json())) as { spec: { limits?: unknown } };
      assert.deepEqual(small.spec.limits, SMALL);
      const roomy = (await node.admin(`/v1/runtimes/roomy`).then((r) => r.json())) as { spec: { limits?: unknown } };
      assert.equal(roomy.spec.limits, undefined);
    });

    test('open files: the hard limit binds the server and its commands, and cannot be raised from inside', async () => {
      const small = await runCommand(node.url, 'small', randomUUID(), 'ulimit -Hn; ulimit -Sn; ulimit -n 4096 2>/dev/null && echo raised || echo refused');
      assert.equal(small.stdout, '128\n128\nrefused\n');
      const server = await runCommand(
        node.url,
        'small',
        randomUUID(),
        'for p in /proc/[0-9]*; do grep -q server.js $p/cmdline 2>/dev/null && grep "open files" $p/limits; done',
      );
      assert.match(server.stdout, /^Max open files\s+128\s+128\s+files\s*$/m);
      const roomy = await runCommand(node.url, 'roomy', randomUUID(), 'ulimit -Hn');
      assert.equal(roomy.stdout, '512\n');
    });

    test('open files: a process at its limit is recorded on the session, which goes on', async () => {
      const session = randomUUID();
      // Opens files until EMFILE, then holds them for a few seconds, as a leak would.
      const hold = await runCommand(
        node.url,
        'small',
        session,
        `node -e 'const fs=require("fs"),a=[];try{for(;;)a.push(fs.openSync("/dev/null","r"))}catch(e){console.log(e.code)}setTimeout(()=>{},2500)'`,
      );
      assert.equal(hold.stdout, 'EMFILE\n');
      await recorded(node, session, 'openFiles', 'refused', /a process holds 12[78] open files, its limit of 128: opening more fails with EMFILE/);
      assert.equal((await runCommand(node.url, 'small', session, 'echo on')).stdout, 'on\n');
    });

    test('cpu: a busy session is throttled at its share, and the session records it', async () => {
      const session = randomUUID();
      await runCommand(node.url, 'small', session, `node -e 'const end=Date.now()+1500;while(Date.now()<end);'`);
      await recorded(node, session, 'cpu', 'throttled', /held back at its CPU share of 0\.5 cores: \d+ times, \d+ ms in all/);
      assert.equal((await sessionOf(node, session)).state, 'ready');
    });

    test('workspace: a bounded private tmpfs; filling it fails the write, not the session', async () => {
      const session = randomUUID();
      const df = await runCommand(node.url, 'small', session, 'df -k "$HOME" | tail -1 | tr -s " " | cut -d" " -f2; stat -c "%a %u" "$HOME"');
      assert.equal(df.stdout, '4096\n700 1000\n');
      const fill = await runCommand(node.url, 'small', session, 'dd if=/dev/zero of="$HOME/big" bs=1M count=8 2>&1; echo "exit $?"');
      assert.match(fill.stdout, /No space left on device/);
      assert.match(fill.stdout, /exit 1\n$/);
      await recorded(node, session, 'workspace', 'refused', /the workspace is full \(4 of 4 MB\): writes fail with ENOSPC/);
      const still = await runCommand(node.url, 'small', session, 'rm "$HOME/big" && echo small > "$HOME/note" && cat "$HOME/note"');
      assert.equal(still.stdout, 'small\n', 'the session goes on once space is freed');
      const roomy = await runCommand(node.url, 'roomy', randomUUID(), 'df -k "$HOME" | tail -1 | tr -s " " | cut -d" " -f2');
      assert.equal(roomy.stdout, String(32 * 1024) + '\n');
    });

    test("berth's run directory inside the sandbox is a small private tmpfs: filling it fails the write, and nothing reaches the host's disk", async () => {
      const session = randomUUID();
      const fill = await runCommand(
        node.url,
        'small',
        session,
        'df -k /run/berth | tail -1 | tr -s " " | cut -d" " -f2; dd if=/dev/zero of=/run/berth/big bs=1M count=64 2>&1; echo "exit $?"',
      );
      assert.match(fill.stdout, /^1024\n/, 'a 1 MB tmpfs');
      assert.match(fill.stdout, /No space left on device/);
      assert.match(fill.stdout, /exit 1\n$/);
      const listed = (await node.admin(`/v1/sessions/${session}`).then((r) => r.json())) as { sandboxId?: string };
      const hostDirs = driver.name === 'bwrap' ? join(node.home, 'sandboxes', listed.sandboxId ?? '') : undefined;
      if (hostDirs) assert.ok(!existsSync(join(hostDirs, 'run', 'big')), "the file is not on the host's disk");
      assert.equal((await runCommand(node.url, 'small', session, 'rm /run/berth/big && echo on')).stdout, 'on\n');
    });

    test("memory: the runtime's limit ends only that session, which says why", async () => {
      const hog = await connectSession(node.url, 'small', randomUUID());
      const other = await connectSession(node.url, 'roomy', randomUUID());
      try {
        await other.call('increment');
        await assert.rejects(hog.call('hog_memory', { mb: 160 }), /server_crashed|exited/);
        await waitFor(
          async () => ((await node.admin(`/v1/sessions/${hog.sessionId}`).then((r) => r.json())) as { state: string }).state === 'ended',
          'the hog to end',
        );
        const ended = (await node.admin(`/v1/sessions/${hog.sessionId}`).then((r) => r.json())) as { exit: { limit?: string } } & Recorded;
        assert.equal(ended.exit.limit, 'memory');
        assert.deepEqual(
          ended.limits.filter((entry) => entry.limit === 'memory').map((entry) => [entry.effect, entry.detail]),
          [['ended', 'the kernel ended the sandbox at its memory limit of 96 MB']],
        );
        assert.match(node.logs(), new RegExp(`session=${hog.sessionId} .*limit=memory`), "berth's log says why too");
        assert.deepEqual(await other.call('increment'), { count: 2 }, 'the other session kept its state');
      } finally {
        await Promise.allSettled([hog.close(), other.close()]);
      }
    });

    test("pids: the runtime's limit refuses forks past it", async () => {
      const bomb = await connectSession(node.url, 'small', randomUUID());
      try {
        const result = (await bomb.call('fork_bomb', { n: 100 })) as { started: number; failed: number };
        assert.ok(result.started < SMALL.pids && result.failed > 0, JSON.stringify(result));
        await recorded(node, bomb.sessionId, 'pids', 'refused', /refused at its limit of 24|its limit of 24: new ones fail with EAGAIN/);
      } finally {
        await bomb.close();
      }
    });
  });
