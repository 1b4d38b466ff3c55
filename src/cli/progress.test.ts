import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { counted, progress, timedWork } from './progress.ts';

const collect = (tty: boolean) => {
  const lines: string[] = [];
  return { lines, io: { out: () => {}, err: (text: string) => lines.push(text), tty } };
};

test('on a terminal the line is redrawn in place and finished with a newline', async () => {
  const { lines, io } = collect(true);
  const chunks = [Buffer.alloc(1024 * 1024), Buffer.alloc(1024 * 1024)];
  const body = counted(Readable.from(chunks), 'uploading app', progress(io));
  let received = 0;
  for await (const chunk of body) received += (chunk as Buffer).length;
  assert.equal(received, 2 * 1024 * 1024);
  assert.ok(lines.every((line) => line.startsWith('\r\x1b[2K')));
  assert.equal(lines.at(-1), '\r\x1b[2Kuploading app: 2.0 MB, sent\n');
});

test('elsewhere, quick work says nothing: scripts reading stderr see only what matters', async () => {
  const { lines, io } = collect(false);
  assert.equal(await timedWork(progress(io), 'installing npm:x', Promise.resolve(7)), 7);
  assert.deepEqual(lines, []);
});

test('a failing piece of work stops its ticker and passes its error on', async () => {
  const { io } = collect(true);
  await assert.rejects(timedWork(progress(io), 'installing npm:x', Promise.reject(new Error('registry down'))), /registry down/);
});
