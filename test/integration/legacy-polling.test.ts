/**
 * SEP-1699 polling from a legacy HTTP server: its `test_reconnection` tool closes the call's SSE stream before
 * answering (the stream's events carry ids), and berth's supervisor must come back with `GET` + `Last-Event-ID` for
 * the answer. Both kinds of client get the tool's result: a 2026-07-28 one, and a 2025-era SDK 1.x one through
 * berth's legacy facade.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { CONFORMANCE } from '../fixtures/conformance-shared.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall } from '../helpers/mcp.ts';

function firstText(result: Record<string, unknown> | undefined): string | undefined {
  return (result?.content as Array<{ text?: string }> | undefined)?.[0]?.text;
}

describe('a legacy HTTP server that closes its answer stream mid-call (SEP-1699)', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    await deploy(node, 'polling', await fixtureDir('conformance-legacy'), { transport: 'http', command: 'node server.js http' });
  });
  after(async () => {
    await node?.stop();
  });

  test('a 2026-07-28 client gets the answer berth resumed the stream for', async () => {
    const sessionId = randomUUID();
    for (let round = 0; round < 2; round++) {
      const answer = await rawCall(node.url, 'polling', 'tools/call', 'test_reconnection', {}, { sessionId });
      assert.equal(answer.status, 200, JSON.stringify(answer.response));
      assert.equal(answer.response.error, undefined, JSON.stringify(answer.response.error));
      assert.notEqual(answer.response.result?.isError, true);
      assert.equal(firstText(answer.response.result), CONFORMANCE.reconnectionText);
    }
  });

  test('an SDK 1.x client through the legacy facade gets it too', async () => {
    const client = new Client({ name: 'legacy-client', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/runtimes/polling/mcp`)));
    try {
      const result = await client.callTool({ name: 'test_reconnection', arguments: {} });
      assert.notEqual(result.isError, true, JSON.stringify(result));
      assert.equal(firstText(result), CONFORMANCE.reconnectionText);
    } finally {
      await client.close();
    }
  });
});
