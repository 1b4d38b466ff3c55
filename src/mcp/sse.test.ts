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

test('a CRLF split between chunks ends one line, not two', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: a\r'), []);
  assert.deepEqual(parser.push('\ndata: b\r'), []);
  assert.deepEqual(parser.push('\n\r\n'), [{ event: 'message', data: 'a\nb' }]);
});

test('an event past the limit throws, whether it grows by lines or by one endless line', () => {
  const byLines = new SseParser(100);
  assert.throws(() => {
    for (let i = 0; i < 20; i++) byLines.push('data: 0123456789\n');
  }, /larger than 100/);
  const endless = new SseParser(100);
  endless.push('data: ');
  assert.throws(() => {
    for (let i = 0; i < 20; i++) endless.push('0123456789');
  }, /larger than 100/);
});

test('a long line fed one character at a time parses the same', () => {
  const parser = new SseParser();
  const data = 'x'.repeat(5000);
  const text = sseEvent(data);
  const events = [];
  for (const char of text) events.push(...parser.push(char));
  assert.deepEqual(events, [{ event: 'message', data }]);
});

test('retry: keeps the last valid reconnection delay and ignores malformed ones', () => {
  const parser = new SseParser();
  parser.push('retry: 250\n\n');
  assert.equal(parser.retryMs, 250);
  parser.push('retry: soon\nretry: -5\n\n');
  assert.equal(parser.retryMs, 250);
});
