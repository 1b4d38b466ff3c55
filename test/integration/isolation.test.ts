/**
 * What a bwrap sandbox must not allow, tried from inside by the fixture's probes, through a real berth node.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession, type SessionClient } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

/** Host uid of a process, from /proc. */
function uidOf(pid: number): number {
  const match = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]);
}

/** Host pids running as `uid`. */
function pidsOfUid(uid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (uidOf(Number(entry)) === uid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

describe('isolation of bwrap sandboxes', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let hostService: Server;
  let hostPort: number;
  const secret = join(tmpdir(), `berth-host-secret-${process.pid}`);
  let a: SessionClient;
  let b: SessionClient;

  before(async () => {
    writeFileSync(secret, 'host secret', { mode: 0o644 });
    hostService = createServer((socket) => socket.end('hello from the host\n'));
    await new Promise<void>((resolve) => hostService.listen(0, '127.0.0.1', resolve));
    hostPort = (hostService.address() as { port: number }).port;
    node = await startBerth({ env: { BERTH_SANDBOX_MEMORY_MB: '192', BERTH_SANDBOX_PIDS: '64' } });
    const dir = await fixtureDir('counter-server');
    await deploy(node, 'iso-stdio', dir, { transport: 'stdio' });
    await deploy(node, 'iso-http', dir, { transport: 'http' });
    a = await connectSession(node.url, 'iso-stdio');
    b = await connectSession(node.url, 'iso-http');
  });
  after(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await node?.stop();
    hostService?.close();
    rmSync(secret, { force: true });
  });

  test('the host filesystem outside the sandbox mounts cannot be read', async () => {
    for (const path of [secret, join(node.home, 'berth.db'), '/etc/shadow', '/root/.bashrc', `/proc/1/root${secret}`]) {
      const result = (await a.call('probe_read', { path })) as { ok: boolean; error?: string };
      assert.equal(result.ok, false, `read ${path}`);
    }
  });

  test('nothing outside /tmp and the workspace can be written', async () => {
    for (const path of ['/usr/local/evil', '/app/evil', '/etc/evil', '/evil', '/opt/berth/bin/evil']) {
      const result = (await a.call('probe_write', { path })) as { ok: boolean; error?: string };
      assert.equal(result.ok, false, `write ${path}`);
      assert.ok(['EROFS', 'EACCES', 'EPERM', 'ENOENT'].includes(result.error ?? ''), `${path}: ${result.error}`);
    }
    assert.deepEqual(await a.call('probe_write', { path: '/tmp/fine' }), { ok: true });
  });

  test('no network: not the outside, not the host loopback, not berth itself', async () => {
    const berthPort = Number(new URL(node.url).port);
    for (const [host, port] of [
      ['1.1.1.1', 443],
      ['127.0.0.1', hostPort],
      ['127.0.0.1', berthPort],
      ['10.0.0.1', 80],
    ] as const) {
      const result = (await b.call('probe_connect', { host, port })) as { ok: boolean; error?: string };
      assert.equal(result.ok, false, `${host}:${port} must be unreachable`);
    }
  });

  test('a sandbox sees only its own processes, runs under its own host uid, and gets only declared variables', async () => {
    const seen = (await a.call('probe_processes')) as { value: string[] };
    assert.ok(seen.value.length < 10, seen.value.join('; '));
    assert.ok(
      seen.value.every((line) => !line.includes('server.js http') && !line.includes('berth serve')),
      seen.value.join('; '),
    );
    const sessions = await node.api.sessions();
    const uids = sessions.map((s) => uidOf(s.pid as number));
    assert.equal(new Set(uids).size, uids.length, 'each sandbox has its own host uid');
    assert.ok(
      uids.every((uid) => uid >= 300_000),
      `sandbox uids ${uids.join(',')} are unprivileged`,
    );
    const me = (await a.call('whoami')) as { env: Record<string, string>; uid: number };
    assert.deepEqual(Object.keys(me.env).sort(), ['HOME', 'PATH']);
    assert.equal(me.uid, 1000);
  });

  test('the channel is out of reach: the server holds no socket of it, and a link planted where one could be is ignored', async () => {
    const fds = (await a.call('probe_fds')) as { ok: boolean; value: string[] };
    assert.equal(fds.ok, true);
    const sockets = fds.value.filter((entry) => entry.includes('socket:') && Number(entry.split(' ')[0]) > 2);
    assert.deepEqual(sockets, [], `beyond its stderr, a stdio server has no sockets open: ${fds.value.join('; ')}`);
    // Were berth to reach a sandbox's supervisor through a path the sandbox can write, this link would send
    // session a's calls to session b's sandbox.
    const sessions = await node.api.sessions();
    const other = sessions.find((s) => s.id === b.sessionId);
    assert.ok(other);
    const mineBefore = (await a.call('get_count')) as { count: number };
    const theirsBefore = await b.call('get_count');
    const planted = await a.call('probe_symlink', { target: join(node.home, 'sandboxes', other.sandboxId, 'c.sock'), path: '/run/berth/c.sock' });
    assert.deepEqual(planted, { ok: true });
    // Calls at once make berth open new connections to the sandbox, which is when it would follow the link.
    await Promise.all([1, 2, 3, 4].map(() => a.call('increment')));
    assert.deepEqual(await a.call('get_count'), { count: mineBefore.count + 4 });
    assert.deepEqual(await b.call('get_count'), theirsBefore, "session b saw none of session a's calls");
    const socketDir = join(node.home, 'sandboxes', other.sandboxId);
    const stat = statSync(socketDir);
    assert.equal(stat.uid, 0, 'the socket directory belongs to berth');
    assert.equal(stat.mode & 0o022, 0, 'and only berth may write it');
  });

  test('seccomp refuses escape-prone calls and socket families that reach past the network namespace', async () => {
    const result = (await a.call('probe_syscalls')) as { ok: boolean; value: Record<string, string> };
    assert.equal(result.ok, true, JSON.stringify(result));
    const EPERM = '1';
    const EAFNOSUPPORT = '97';
    assert.deepEqual(result.value, {
      vsock: EAFNOSUPPORT,
      alg: EAFNOSUPPORT,
      unix: 'ok',
      inet: 'ok',
      ptrace: EPERM,
      unshare: EPERM,
      keyctl: EPERM,
      io_uring_setup: EPERM,
    });
  });

  test('a memory hog is killed at its limit while other sessions keep answering', async () => {
    const hog = await connectSession(node.url, 'iso-stdio', randomUUID());
    try {
      await hog.call('increment');
      await assert.rejects(hog.call('hog_memory', { mb: 600 }), /server_crashed|exited/);
      assert.deepEqual(await b.call('increment'), await b.call('get_count'));
      await waitFor(
        async () => ((await node.admin(`/v1/sessions/${hog.sessionId}`).then((r) => r.json())) as { state: string }).state === 'ended',
        'the hog session to end',
      );
      const ended = (await node.admin(`/v1/sessions/${hog.sessionId}`).then((r) => r.json())) as { exit: { limit?: string } };
      assert.equal(ended.exit.limit, 'memory');
      assert.deepEqual(await hog.call('increment'), { count: 1 }, 'the hog session starts fresh');
    } finally {
      await hog.close();
    }
  });

  test('a fork bomb hits its pids limit while other sessions keep answering; stopping it leaves no process', async () => {
    const bomb = await connectSession(node.url, 'iso-stdio', randomUUID());
    try {
      const result = (await bomb.call('fork_bomb', { n: 200 })) as { started: number; failed: number };
      assert.ok(result.started < 64 && result.failed > 0, JSON.stringify(result));
      assert.ok(((await b.call('increment')) as { count: number }).count > 0);
      const info = (await node.api.sessions()).find((s) => s.id === bomb.sessionId);
      const uid = uidOf(info?.pid as number);
      assert.ok(pidsOfUid(uid).length > result.started);
      await node.admin(`/v1/sessions/${bomb.sessionId}`, { method: 'DELETE' });
      assert.deepEqual(pidsOfUid(uid), [], 'every process of the stopped sandbox is gone');
    } finally {
      await bomb.close();
    }
  });
});
