/**
 * @modelcontextprotocol/server-everything — a 2025-11-25 server nobody here wrote — hosted unchanged by berth over
 * stdio and over Streamable HTTP, driven by the official 2026-07-28 client: its elicitation, sampling and
 * long-running tools complete through berth's bridge, progress arriving before the result.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { everythingCommand, everythingDir } from '../helpers/fixtures.ts';

function texts(result: Record<string, unknown>): string {
  return (result.content as Array<{ type: string; text?: string }>).map((c) => c.text ?? '').join('\n');
}

describe('server-everything through berth', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    const dir = await everythingDir();
    await deploy(node, 'everything-stdio', dir, { transport: 'stdio', command: everythingCommand('stdio') });
    await deploy(node, 'everything-http', dir, { transport: 'http', command: everythingCommand('http') });
  });
  after(async () => {
    await node?.stop();
  });

  for (const runtime of ['everything-stdio', 'everything-http']) {
    test(`${runtime}: elicitation, sampling and a long-running operation complete for a 2026-07-28 client`, async () => {
      const client = new Client(
        { name: 'everything-test', version: '1.0.0' },
        { capabilities: { elicitation: { form: {} }, sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
      );
      const asked: string[] = [];
      client.setRequestHandler('elicitation/create', async () => {
        asked.push('elicitation');
        return {
          action: 'accept',
          content: { name: 'Ada Lovelace', check: true, email: 'ada@example.com', integer: 3, number: 1.5, untitledSingleSelectEnum: 'option1' },
        };
      });
      client.setRequestHandler('sampling/createMessage', async () => {
        asked.push('sampling');
        return { role: 'assistant', content: { type: 'text', text: 'sampled through berth' }, model: 'test-model', stopReason: 'endTurn' };
      });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${node.url}/runtimes/${runtime}/mcp`), { requestInit: { headers: { [SESSION_HEADER]: randomUUID() } } }),
      );
      try {
        assert.equal(client.getProtocolEra(), 'modern');
        const tools = (await client.listTools()).tools.map((t) => t.name);
        assert.ok(tools.includes('trigger-elicitation-request') && tools.includes('trigger-sampling-request'), tools.join(','));

        const elicited = texts(await client.callTool({ name: 'trigger-elicitation-request', arguments: {} }));
        assert.match(elicited, /Ada Lovelace/);
        const sampled = texts(await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello' } }));
        assert.match(sampled, /sampled through berth/);
        assert.deepEqual(asked, ['elicitation', 'sampling']);

        const events: string[] = [];
        const result = await client.callTool(
          { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
          { onprogress: (p) => events.push(`progress ${p.progress}/${p.total}`) },
        );
        events.push('result');
        assert.deepEqual(events, ['progress 1/4', 'progress 2/4', 'progress 3/4', 'progress 4/4', 'result']);
        assert.match(texts(result), /Long running operation completed/);
      } finally {
        await client.close();
      }
    });
  }
});
