import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { onLines } from './lines.ts';

function collect(max: number, chunks: string[]): Array<[string, boolean]> {
  const stream = new PassThrough();
  const lines: Array<[string, boolean]> = [];
  onLines(stream, max, (line, cut) => lines.push([line, cut]));
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  return lines;
}

test('lines split across chunks come out whole, CRLF trimmed, a last line without newline kept', async () => {
  const lines = collect(100, ['ab', 'c\r\nde', 'f\n\n', 'tail']);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(lines, [
    ['abc', false],
    ['def', false],
    ['', false],
    ['tail', false],
  ]);
});

test('a line past the limit is cut once and the rest of it dropped, and the next line is whole', async () => {
  const lines = collect(4, ['abcdefgh', 'ijk\nxy', 'z\n', '123456']);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(lines, [
    ['abcd', true],
    ['xyz', false],
    ['1234', true],
  ]);
});
