import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputLog } from './output-log.ts';

test('keeps the newest lines within its bound and counts what it dropped', () => {
  const log = new OutputLog(10);
  for (const line of ['aaaa', 'bbbb', 'cccc', 'dd']) log.push(line);
  const { lines, dropped } = log.read();
  assert.deepEqual(
    lines.map((entry) => entry.line),
    ['bbbb', 'cccc', 'dd'],
    '10 bytes hold these three',
  );
  assert.equal(dropped, 1);
  assert.ok(lines.every((entry) => !Number.isNaN(Date.parse(entry.at))));
  assert.deepEqual(log.tail(1), ['dd']);
});

test('a line longer than the whole bound is cut to it; a flood stays bounded', () => {
  const log = new OutputLog(8);
  log.push('x'.repeat(100));
  assert.deepEqual(
    log.read().lines.map((entry) => entry.line),
    ['xxxxxxxx'],
  );
  for (let i = 0; i < 10_000; i++) log.push(`${i % 10}`);
  const { lines, dropped } = log.read();
  assert.equal(lines.length, 8);
  assert.equal(lines.at(-1)?.line, '9');
  assert.equal(dropped, 10_001 - 8);
});
