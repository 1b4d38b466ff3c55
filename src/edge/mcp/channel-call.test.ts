import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '../../core/errors.ts';
import type { Sandbox, SandboxExit } from '../../sandbox/driver.ts';
import type { Lease } from '../../sessions/manager.ts';
import { ANONYMOUS } from '../auth/principal.ts';
import { callChannel } from './channel-call.ts';
import { modernCall } from './legacy-exchange.ts';

/**
 * A sandbox whose supervisor takes each call and then drops the connection, as one being killed does: without an
 * answer, or after `partly` (the start of one); `ending` says how the sandbox goes meanwhile (closing at once and
 * ending thus, or never closing).
 */
async function droppingSandbox(t: { after: (fn: () => void) => void }, ending: SandboxExit | 'stays', partly = ''): Promise<Lease> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-channel-call-'));
  const socketPath = join(dir, 'channel.sock');
  const server: Server = createServer((socket) => socket.once('data', () => socket.end(partly, () => socket.destroy())));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const never = new Promise<never>(() => {});
  const sandbox: Partial<Sandbox> = {
    id: 'sbx_test',
    channel: { socketPath },
    closing: ending === 'stays' ? never : Promise.resolve(),
    exited: ending === 'stays' ? never : Promise.resolve(ending),
    limitReached: () => undefined,
    using: () => () => {},
    retire: () => {},
  };
  return { sessionId: 'session-under-test-0000000000000000000', sandbox: sandbox as Sandbox, principal: ANONYMOUS, created: false, release: () => {} };
}

async function failure(lease: Lease): Promise<{ code: string; status: number; message: string }> {
  try {
    await callChannel(
      lease,
      new Headers({ 'content-type': 'application/json' }),
      '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      new AbortController().signal,
    );
  } catch (error) {
    assert.ok(isBerthError(error), String(error));
    return { code: error.code, status: error.status, message: error.message };
  }
  throw new Error('the call was answered');
}

test('a call whose session berth stopped under it says the session ended (409), not that the sandbox failed (5xx)', { timeout: 20_000 }, async (t) => {
  const answer = await failure(await droppingSandbox(t, { reason: 'stopped' }));
  assert.equal(answer.code, 'session_ended');
  assert.equal(answer.status, 409);
  assert.match(answer.message, /ended while this request was in flight.*next request starts a fresh sandbox/);
});

test('a call whose sandbox died, or stopped answering without closing, is sandbox_unavailable', { timeout: 20_000 }, async (t) => {
  assert.equal((await failure(await droppingSandbox(t, { reason: 'killed', exitCode: null, signal: 'SIGKILL' }))).code, 'sandbox_unavailable');
  assert.equal((await failure(await droppingSandbox(t, 'stays'))).code, 'sandbox_unavailable');
});

test(
  "an answer cut part way through, read by the edge itself (a legacy client's call), fails as the sandbox went: 409 when its session was stopped",
  { timeout: 20_000 },
  async (t) => {
    const head = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"jsonrpc":"2.0",';
    for (const [ending, code] of [
      [{ reason: 'stopped' }, 'session_ended'],
      ['stays', 'sandbox_unavailable'],
    ] as const) {
      const lease = await droppingSandbox(t, ending, head);
      const client = { session: lease.sessionId, capabilities: {}, clientInfo: undefined };
      const call = { jsonrpc: '2.0' as const, id: 1, method: 'server/discover', params: {} };
      await assert.rejects(
        modernCall(lease, client, call, new AbortController().signal, () => {}),
        (error: unknown) => {
          assert.ok(isBerthError(error), `not berth's own error, so a 500: ${String(error)}`);
          assert.equal(error.code, code);
          return true;
        },
      );
    }
  },
);
