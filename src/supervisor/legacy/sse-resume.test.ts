import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResumeCursor, StreamReader } from './sse-resume.ts';

test('the reader follows event ids and retry fields however the text is split', () => {
  const cursor = new ResumeCursor();
  const reader = new StreamReader(cursor);
  const text = 'id: a1\nretry: 250\r\ndata: \n\nid: a2\ndata: {"x":1}\n\n';
  const events = [];
  for (let i = 0; i < text.length; i += 3) events.push(...reader.push(text.slice(i, i + 3)));
  assert.deepEqual(
    events.map((event) => event.id),
    ['a1', 'a2'],
  );
  assert.equal(reader.events, 2);
  assert.equal(cursor.lastEventId, 'a2');
  assert.equal(cursor.retryMs, 250);
});

test('retry fields that are not plain digits, or hide in long lines, are ignored', () => {
  const cursor = new ResumeCursor();
  const reader = new StreamReader(cursor);
  reader.push('retry: 12a\nretry:-5\ndata: retry: 9\n\n');
  reader.push(`retry: ${'9'.repeat(40)}\n`);
  assert.equal(cursor.retryMs, undefined);
  reader.push('retry:40\n');
  assert.equal(cursor.retryMs, 40);
});

test('after a stream ends: no id means no resumption; the delay is bounded; fruitless resumptions run out', () => {
  const cursor = new ResumeCursor();
  assert.deepEqual(cursor.afterEnd(true), { refused: 'the server closed its answer stream before answering' });
  cursor.lastEventId = '1';
  assert.deepEqual(cursor.afterEnd(true), { delayMs: 100, from: '1' });
  cursor.retryMs = 3_600_000;
  assert.deepEqual(cursor.afterEnd(true), { delayMs: 5_000, from: '1' });
  for (let i = 1; i < 10; i++) assert.ok('delayMs' in cursor.afterEnd(false), `fruitless resumption ${i} is allowed`);
  assert.ok('refused' in cursor.afterEnd(false));
});

test('an empty id clears the last event id', () => {
  const cursor = new ResumeCursor();
  const reader = new StreamReader(cursor);
  reader.push('id: 5\ndata: a\n\nid:\ndata: b\n\n');
  assert.equal(cursor.lastEventId, undefined);
});
