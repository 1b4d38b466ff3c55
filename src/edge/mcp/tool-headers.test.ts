import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { sseEvent } from '../../mcp/sse.ts';
import { ToolHeaderIndex } from './tool-headers.ts';

const tools = { tools: [{ name: 'where', inputSchema: { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' } } } }] };

async function drain(body: Readable): Promise<string> {
  let out = '';
  for await (const chunk of body) out += String(chunk);
  return out;
}

for (const [type, text] of [
  ['application/json', JSON.stringify({ jsonrpc: '2.0', id: 1, result: tools })],
  [
    'text/event-stream',
    sseEvent(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: {} })) +
      sseEvent(JSON.stringify({ jsonrpc: '2.0', id: 1, result: tools })),
  ],
] as const) {
  test(`a ${type} tools/list answer passes through unchanged and teaches the index its tools' headers`, async () => {
    const index = new ToolHeaderIndex();
    const pieces = [text.slice(0, 17), text.slice(17)].map((piece) => Buffer.from(piece));
    assert.equal(await drain(index.observe('rt@1', Readable.from(pieces), type)), text);
    assert.throws(() => index.check('rt@1', 'where', new Headers(), { region: 'eu' }), /Mcp-Param-Region header, which is missing/);
    assert.doesNotThrow(() => index.check('rt@2', 'where', new Headers(), { region: 'eu' }), 'another version is not known');
    assert.doesNotThrow(() => index.check('rt@1', 'other', new Headers(), { region: 'eu' }), 'an unlisted tool is not checked');
  });
}
