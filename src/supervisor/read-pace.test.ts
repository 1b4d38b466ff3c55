import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { paceReads } from './read-pace.ts';

test('a stream read past its burst pauses, so its writer meets a full pipe, and reading resumes once the bucket refills', async () => {
  const stream = new PassThrough();
  let read = 0;
  stream.on('data', (chunk: Buffer) => (read += chunk.length));
  paceReads(stream, { burstBytes: 1024, bytesPerSecond: 64 * 1024 });
  stream.write(Buffer.alloc(1000));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stream.isPaused(), false, 'within the burst, reading goes on');
  stream.write(Buffer.alloc(4096));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(read, 5096);
  assert.equal(stream.isPaused(), true, 'past the burst, reading pauses');
  stream.write(Buffer.alloc(100));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(read, 5096, 'what comes meanwhile waits');
  await new Promise((resolve) => stream.once('resume', resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(read, 5196, 'and is read once the bucket has room');
  stream.destroy();
});
