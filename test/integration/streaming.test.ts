/**
 * Answers stream through berth unbuffered, and a client that goes away cancels its call inside the sandbox.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession, rawCall } from '../helpers/mcp.ts';
import { SESSION_HEADER } from '../../src/edge/mcp/channel-call.ts';
import { waitFor } from '../helpers/wait.ts';

describe('streaming and cancellation', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    const dir = await fixtureDir('counter-server');
    await deploy(node, 'stream-stdio', dir, { transport: 'stdio' });
    await deploy(node, 'stream-http', dir, { transport: 'http' });
  });
  after(async () => {
    await node?.stop();
  });

  for (const runtime of ['stream-stdio', 'stream-http']) {
    test(`${runtime}: a progress notification reaches the client while the call is still running`, async () => {
      const s = await connectSession(node.url, runtime);
      try {
        // The call cannot finish until the client has seen its progress notification and opened the gate:
        // if berth held the SSE stream back until the end, this would never complete.
        const progress: string[] = [];
        let opened: Promise<unknown> | undefined;
        const result = await s.client.callTool(
          { name: 'gate_wait', arguments: { gate: 'g1' } },
          {
            onprogress: (p) => {
              progress.push(p.message ?? '');
              opened ??= s.call('gate_open', { gate: 'g1' });
            },
          },
        );
        assert.deepEqual(progress, ['waiting at g1']);
        assert.deepEqual(await opened, { gate: 'g1', opened: true });
        assert.deepEqual(JSON.parse((result.content as Array<{ text: string }>)[0]?.text ?? ''), { gate: 'g1', passed: true });
      } finally {
        await s.close();
      }
    });

    test(`${runtime}: progress notifications arrive in order before the result`, async () => {
      const s = await connectSession(node.url, runtime);
      try {
        const seen: number[] = [];
        const result = await s.client.callTool({ name: 'slow', arguments: { steps: 4, delayMs: 20 } }, { onprogress: (p) => seen.push(p.progress) });
        assert.deepEqual(seen, [1, 2, 3, 4]);
        assert.ok(!result.isError);
      } finally {
        await s.close();
      }
    });

    test(`${runtime}: closing the client's connection cancels the call inside the sandbox`, async () => {
      const s = await connectSession(node.url, runtime);
      try {
        const controller = new AbortController();
        const call = s.client.callTool({ name: 'wait', arguments: { ms: 120_000 } }, { signal: controller.signal });
        await waitFor(
          async () => (await node.api.sessions(runtime)).some((entry) => entry.id === s.sessionId && (entry as { inFlight?: number }).inFlight === 1),
          'the call to be in flight',
        );
        controller.abort();
        await assert.rejects(call);
        await waitFor(async () => ((await s.call('stats')) as { cancellations: number }).cancellations === 1, 'the server to see the cancellation');
        await waitFor(
          async () => (await node.api.sessions(runtime)).some((entry) => entry.id === s.sessionId && (entry as { inFlight?: number }).inFlight === 0),
          'the call to leave flight',
        );
      } finally {
        await s.close();
      }
    });

    test(`${runtime}: notifications/cancelled naming the client's request id cancels that call`, async () => {
      const s = await connectSession(node.url, runtime);
      try {
        const call = rawCall(node.url, runtime, 'tools/call', 'wait', { ms: 120_000 }, { sessionId: s.sessionId, id: 'client-call-7' });
        await waitFor(
          async () => (await node.api.sessions(runtime)).some((entry) => entry.id === s.sessionId && entry.inFlight === 1),
          'the call to be in flight',
        );
        const cancel = await fetch(`${node.url}/runtimes/${runtime}/mcp`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2026-07-28',
            'mcp-method': 'notifications/cancelled',
            [SESSION_HEADER]: s.sessionId,
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId: 'client-call-7', reason: 'changed my mind', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
          }),
        });
        assert.equal(cancel.status, 202);
        await waitFor(async () => ((await s.call('stats')) as { cancellations: number }).cancellations === 1, 'the server to see the cancellation');
        await call;
        await waitFor(
          async () => (await node.api.sessions(runtime)).some((entry) => entry.id === s.sessionId && entry.inFlight === 0),
          'the call to leave flight',
        );
      } finally {
        await s.close();
      }
    });
  }
});
