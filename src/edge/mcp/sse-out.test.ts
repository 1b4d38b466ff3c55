import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseOut } from './sse-out.ts';

const big = { jsonrpc: '2.0' as const, method: 'notifications/message', params: { data: 'x'.repeat(64 * 1024) } };

test('send waits while a slow client has a full queue, and resumes as the client reads', async () => {
  const out = new SseOut();
  let waited = 0;
  for (let i = 0; i < 8; i++) {
    let settled = false;
    const sent = out.send(big).then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    if (!settled) {
      waited++;
      const reader = out.stream.getReader();
      await reader.read();
      reader.releaseLock();
      await sent;
    }
  }
  assert.ok(waited > 0, 'a full queue made the writer wait');
  out.close();
});

test('ending the stream releases waiting writers and runs onEnd once, closed by berth or cancelled by the client', async () => {
  let ended = 0;
  const out = new SseOut(() => ended++);
  const pending = [];
  for (let i = 0; i < 8; i++) pending.push(out.send(big));
  await out.stream.cancel();
  await Promise.all(pending);
  out.close();
  assert.equal(ended, 1);
  assert.equal(out.closed, true);
  await out.send(big);
});
