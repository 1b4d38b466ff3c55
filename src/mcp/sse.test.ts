import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, sseEvent } from './sse.ts';

test('parses events split across chunks, skipping comments', () => {
  const parser = new SseParser();
  const text = `: keep-alive\n\n${sseEvent('{"a":1}')}event: message\r\ndata: line1\r\ndata: line2\r\n\r\n`;
  const events = [];
  for (let i = 0; i < text.length; i += 5) events.push(...parser.push(text.slice(i, i + 5)));
  assert.deepEqual(events, [
    { event: 'message', data: '{"a":1}' },
    { event: 'message', data: 'line1\nline2' },
  ]);
});
