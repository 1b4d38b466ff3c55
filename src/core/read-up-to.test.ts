import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { readUpTo } from './read-up-to.ts';

test('a stream read whole, or its chunks so far once past the limit, or the error it failed with', async () => {
  assert.equal(String(await readUpTo(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 10)), 'abcd');
  const past = await readUpTo(Readable.from([Buffer.from('ab'), Buffer.from('cd'), Buffer.from('ef')]), 3);
  assert.ok(Array.isArray(past));
  assert.equal(Buffer.concat(past).toString(), 'abcd');
  const failing = new Readable({ read() {} });
  const read = readUpTo(failing, 10);
  failing.destroy(new Error('cut'));
  assert.match(String(await read), /cut/);
});

test('a stream already over before it is read resolves at once (a client gone before its body was read)', async () => {
  const gone = new Readable({ read() {} });
  gone.destroy();
  await new Promise((resolve) => setImmediate(resolve));
  assert.match(String(await readUpTo(gone, 10)), /closed before its end/);
  const failed = new Readable({ read() {} });
  failed.on('error', () => {});
  failed.destroy(new Error('reset'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.match(String(await readUpTo(failed, 10)), /reset/);
});
