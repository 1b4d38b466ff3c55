/**
 * The slot factory (issue 17): sandboxes' first shells are started by a small process of berth's, not by berth's
 * large one. Pinned: a shell's stdio reaches berth as working pipes and its other descriptors are relayed; a start
 * that cannot be made fails with a reason and costs nothing else; a factory that dies reports every shell it held
 * ended, and the next start gets a new factory; close ends the factory and its shells.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../../../../test/helpers/wait.ts';
import { silentLogger } from '../../../observability/logger.ts';
import { BwrapDriver } from './driver.ts';
import { SlotFactory, type FactoryShell } from './slot-factory.ts';

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
const exited = (shell: FactoryShell): Promise<[number | null, string | null]> =>
  shell.exitCode !== null || shell.signalCode !== null
    ? Promise.resolve([shell.exitCode, shell.signalCode])
    : new Promise((resolve) => shell.once('exit', (code: number | null, signal: string | null) => resolve([code, signal])));

/** A shell that says a line on descriptor 8, then echoes its stdin to stdout and what berth tells it to stderr. */
const ECHO = ['/bin/sh', '-c', 'echo joined >&8; read -r line <&7; echo "told $line" >&2; exec cat'];

describe('the slot factory', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let dir: string;
  let request: { uid: number; argv: string[]; seccompPath: string; channelPath: string };
  const uid = 270_000 + (process.pid % 1000);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-factory-'));
    writeFileSync(join(dir, 'seccomp.bpf'), '');
    request = { uid, argv: ECHO, seccompPath: join(dir, 'seccomp.bpf'), channelPath: join(dir, 'c.sock') };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("a shell runs as its uid with berth's pipes for stdio and its lines relayed both ways", async () => {
    const factory = new SlotFactory(silentLogger);
    try {
      const lines: Array<string | undefined> = [];
      const shell = await factory.start(request, (line) => lines.push(line));
      assert.ok(alive(shell.pid));
      assert.equal(readFileSync(`/proc/${shell.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1], String(uid));
      assert.ok(existsSync(request.channelPath), 'its channel socket is made');
      const stderr: Buffer[] = [];
      shell.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
      shell.tell('hello');
      const echoed = new Promise<string>((resolve) => shell.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      shell.stdin?.write('ping\n');
      assert.equal(await echoed, 'ping\n');
      assert.equal(Buffer.concat(stderr).toString(), 'told hello\n');
      shell.stdin?.end();
      assert.deepEqual(await exited(shell), [0, null], 'cat ends at the end of its stdin, and the factory reports it');
      await waitFor(() => lines.length === 2, 'the end of its lines');
      assert.deepEqual(lines, ['joined', undefined]);
      assert.equal(factory.shells, 0);
    } finally {
      await factory.close();
    }
  });

  test('a shell that cannot be started fails with the reason, and the factory goes on', async () => {
    const factory = new SlotFactory(silentLogger);
    try {
      await assert.rejects(
        factory.start({ ...request, seccompPath: join(dir, 'missing.bpf') }, () => {}),
        /missing\.bpf/,
      );
      await assert.rejects(
        factory.start({ ...request, argv: [join(dir, 'no-such-program')] }, () => {}),
        /no-such-program/,
      );
      const shell = await factory.start({ ...request, channelPath: join(dir, 'd.sock') }, () => {});
      assert.ok(alive(shell.pid));
      shell.kill('SIGKILL');
      assert.deepEqual(await exited(shell), [null, 'SIGKILL']);
    } finally {
      await factory.close();
    }
  });

  test('a factory that dies reports its shells ended, and the next start gets a new one', async () => {
    const factory = new SlotFactory(silentLogger);
    try {
      // Waiting on descriptor 7, as a launch slot's shell does: it ends when the factory's end of that pipe closes.
      const waiting = await factory.start(
        { ...request, argv: ['/bin/sh', '-c', 'read -r go <&7 && exec sleep 600'], channelPath: join(dir, 'e.sock') },
        () => {},
      );
      const first = factory.pid as number;
      process.kill(first, 'SIGKILL');
      assert.deepEqual(await exited(waiting), [null, 'SIGKILL']);
      const next = await factory.start({ ...request, channelPath: join(dir, 'f.sock') }, () => {});
      assert.notEqual(factory.pid, first);
      assert.ok(alive(next.pid));
      await waitFor(() => !alive(waiting.pid), 'the orphaned shell to end as its descriptor 7 closed');
    } finally {
      await factory.close();
    }
  });

  test('close ends the factory and every shell it started, one that keeps it busy relaying its lines too', async () => {
    const factory = new SlotFactory(silentLogger);
    const shell = await factory.start({ ...request, argv: ['/bin/sh', '-c', 'exec sleep 600'], channelPath: join(dir, 'g.sock') }, () => {});
    // A send that finds berth's end closed fails in the factory (EPIPE); it must still end its shells.
    const chatty = await factory.start({ ...request, argv: ['/bin/sh', '-c', 'while echo line >&8; do :; done'], channelPath: join(dir, 'h.sock') }, () => {});
    const pid = factory.pid as number;
    await factory.close();
    assert.ok(!alive(pid));
    await waitFor(() => !alive(shell.pid) && !alive(chatty.pid), 'its shells to end');
    await assert.rejects(
      factory.start(request, () => {}),
      /closed/,
    );
  });
});
