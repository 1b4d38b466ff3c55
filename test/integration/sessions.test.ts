/**
 * Sessions end to end: a real berth node with the bwrap driver, the counter fixture deployed over stdio and over
 * HTTP, driven by the official MCP client. Each session's state lives in its own sandbox and nowhere else.
 */
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

const unsupported = BwrapDriver.unsupportedReason();

describe('sessions on the bwrap driver', { skip: unsupported ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    const dir = await fixtureDir('counter-server');
    await deploy(node, 'counter-stdio', dir, { transport: 'stdio' });
    await deploy(node, 'counter-http', dir, { transport: 'http' });
    await deploy(node, 'short-idle', dir, { transport: 'stdio', idleTimeoutSeconds: 1 });
    await deploy(node, 'short-life', dir, { transport: 'stdio', maxLifetimeSeconds: 2 });
  });
  after(async () => {
    await node?.stop();
  });

  for (const runtime of ['counter-stdio', 'counter-http']) {
    test(`${runtime}: two sessions never see each other's counter or files`, async () => {
      const a = await connectSession(node.url, runtime);
      const b = await connectSession(node.url, runtime);
      try {
        assert.deepEqual(await a.call('increment'), { count: 1 });
        assert.deepEqual(await a.call('increment'), { count: 2 });
        assert.deepEqual(await b.call('increment'), { count: 1 });
        await a.call('write_file', { name: 'mine.txt', content: `owned by ${a.sessionId}` });
        assert.deepEqual(await b.call('list_files'), { ok: true, value: [] });
        assert.deepEqual(await b.call('read_file', { name: 'mine.txt' }), { ok: false, error: 'ENOENT' });
        assert.deepEqual(await a.call('read_file', { name: 'mine.txt' }), { ok: true, value: `owned by ${a.sessionId}` });
        const [whoA, whoB] = (await Promise.all([a.call('whoami'), b.call('whoami')])) as Array<{ startedAt: number; pid: number }>;
        const sessions = await node.api.sessions(runtime);
        const pids = sessions.filter((s) => s.id === a.sessionId || s.id === b.sessionId).map((s) => s.pid);
        assert.equal(new Set(pids).size, 2, 'each session has its own sandbox');
        assert.ok(whoA && whoB);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    test(`${runtime}: one session keeps its state across 100 requests`, async () => {
      const s = await connectSession(node.url, runtime);
      try {
        for (let i = 1; i <= 100; i++) assert.deepEqual(await s.call('increment'), { count: i });
        await s.call('write_file', { name: 'kept.txt', content: 'still here' });
        assert.deepEqual(await s.call('get_count'), { count: 100 });
        assert.deepEqual(await s.call('read_file', { name: 'kept.txt' }), { ok: true, value: 'still here' });
      } finally {
        await s.close();
      }
    });
  }

  test('GET /v1/sessions lists a live session with runtime, version, state, times, pid and memory', async () => {
    const s = await connectSession(node.url, 'counter-stdio');
    try {
      await s.call('increment');
      const response = await node.admin(`/v1/sessions/${s.sessionId}`);
      assert.equal(response.status, 200);
      const info = (await response.json()) as Record<string, unknown>;
      assert.equal(info.runtime, 'counter-stdio');
      assert.equal(info.version, 1);
      assert.equal(info.state, 'ready');
      assert.ok(Date.parse(info.createdAt as string) <= Date.parse(info.lastActiveAt as string));
      assert.ok(Number.isInteger(info.pid) && (info.pid as number) > 0);
      assert.ok((info.memoryBytes as number) > 0);
      const list = (await (await node.admin(`/v1/sessions?runtime=counter-stdio`)).json()) as { sessions: Array<{ id: string }> };
      assert.ok(list.sessions.some((entry) => entry.id === s.sessionId));
    } finally {
      await s.close();
    }
  });

  test('a stopped session loses its processes and files, and its next request starts fresh', async () => {
    const s = await connectSession(node.url, 'counter-http');
    try {
      await s.call('increment');
      await s.call('write_file', { name: 'gone.txt', content: 'x' });
      const before = (await node.api.sessions()).find((entry) => entry.id === s.sessionId);
      assert.ok(before?.pid);
      const stopped = await node.admin(`/v1/sessions/${s.sessionId}`, { method: 'DELETE' });
      assert.equal(stopped.status, 200);
      assert.throws(() => process.kill(before.pid as number, 0), /ESRCH/, 'the sandbox process is gone');
      const ended = (await (await node.admin(`/v1/sessions/${s.sessionId}`)).json()) as { state: string; reason: string };
      assert.deepEqual([ended.state, ended.reason], ['ended', 'stopped']);
      assert.deepEqual(await s.call('increment'), { count: 1 });
      assert.deepEqual(await s.call('list_files'), { ok: true, value: [] });
      const again = (await node.api.sessions()).find((entry) => entry.id === s.sessionId);
      assert.notEqual(again?.pid, before.pid);
    } finally {
      await s.close();
    }
  });

  test('an idle session expires; nothing in flight is what idle means', async () => {
    const s = await connectSession(node.url, 'short-idle');
    try {
      await s.call('increment');
      // A call longer than the idle timeout keeps the session: it is not idle while the call is in flight.
      assert.deepEqual(await s.call('wait', { ms: 2500 }), { waited: 2500, cancelled: false });
      assert.deepEqual(await s.call('increment'), { count: 2 });
      await waitFor(async () => (await node.api.sessions('short-idle')).every((entry) => entry.id !== s.sessionId), 'the idle session to end');
      const ended = (await (await node.admin(`/v1/sessions/${s.sessionId}`)).json()) as { reason: string };
      assert.equal(ended.reason, 'idle');
      assert.deepEqual(await s.call('increment'), { count: 1 });
    } finally {
      await s.close();
    }
  });

  test('a session ends at its maximum lifetime, even while busy', async () => {
    const s = await connectSession(node.url, 'short-life');
    try {
      await s.call('increment');
      // The call would run 60 s; the session's 2 s lifetime ends it, call and all.
      await assert.rejects(s.call('wait', { ms: 60_000 }));
      await waitFor(async () => (await node.api.sessions('short-life')).every((entry) => entry.id !== s.sessionId), 'the session to reach its lifetime');
      const ended = (await (await node.admin(`/v1/sessions/${s.sessionId}`)).json()) as { reason: string };
      assert.equal(ended.reason, 'lifetime');
      assert.deepEqual(await s.call('increment'), { count: 1 });
    } finally {
      await s.close();
    }
  });

  test('berth mints a session id when the client sends none, and the URL form reaches the same session', async () => {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: {
        name: 'increment',
        arguments: {},
        _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
      },
    });
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'increment',
    };
    const first = await fetch(`${node.url}/runtimes/counter-stdio/mcp`, { method: 'POST', headers, body });
    assert.equal(first.status, 200);
    const minted = first.headers.get(SESSION_HEADER);
    assert.ok(minted && minted.length >= 33, `minted id ${minted}`);
    await first.text();
    const second = await fetch(`${node.url}/runtimes/counter-stdio/sessions/${minted}/mcp`, { method: 'POST', headers, body });
    assert.equal(second.headers.get(SESSION_HEADER), minted);
    const message = (await second.json()) as { result: { content: Array<{ text: string }> } };
    assert.deepEqual(JSON.parse(message.result.content[0]?.text ?? ''), { count: 2 });
    await node.admin(`/v1/sessions/${minted}`, { method: 'DELETE' });
  });

  test('concurrent first requests of one new session share one sandbox', async () => {
    const id = randomUUID();
    const clients = await Promise.all(Array.from({ length: 5 }, () => connectSession(node.url, 'counter-stdio', id)));
    try {
      const counts = (await Promise.all(clients.map((c) => c.call('increment')))) as Array<{ count: number }>;
      assert.deepEqual(counts.map((c) => c.count).sort(), [1, 2, 3, 4, 5]);
      assert.equal((await node.api.sessions('counter-stdio')).filter((s) => s.id === id).length, 1);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  test('a session id belongs to one runtime', async () => {
    const id = randomUUID();
    const s = await connectSession(node.url, 'counter-stdio', id);
    try {
      await s.call('increment');
      const response = await fetch(`${node.url}/runtimes/counter-http/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/list',
          [SESSION_HEADER]: id,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 5,
          method: 'tools/list',
          params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
        }),
      });
      assert.equal(response.status, 409);
      const message = (await response.json()) as { id: number; error: { message: string; data: { code: string } } };
      assert.equal(message.id, 5);
      assert.equal(message.error.data.code, 'session_runtime_mismatch');
      assert.match(message.error.message, /belongs to runtime "counter-stdio"/);
    } finally {
      await s.close();
    }
  });
});
