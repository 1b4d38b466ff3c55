import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptKey, closeFrame, encodeFrame, FrameReader, isWebSocketKey, OPCODE, parseClose, parseFrameHead } from './websocket.ts';

test("the accept key is RFC 6455's for its sample key", () => {
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.ok(isWebSocketKey('dGhlIHNhbXBsZSBub25jZQ=='));
  assert.ok(!isWebSocketKey('short'));
  assert.ok(!isWebSocketKey(null));
});

test('frames of every length form round-trip through the reader, masked, whole or a byte at a time', () => {
  for (const length of [0, 5, 125, 126, 65_535, 65_536, 200_000]) {
    const payload = Buffer.alloc(length, 7);
    const frame = encodeFrame(OPCODE.binary, payload, true);
    const head = parseFrameHead(frame);
    assert.ok(head && typeof head !== 'string');
    assert.equal(head.length, length);
    const reader = new FrameReader(1024 * 1024);
    const whole = reader.feed(frame);
    assert.equal(whole.length, 1);
    assert.deepEqual(whole[0]?.payload, payload);
  }
  const reader = new FrameReader(1024);
  const frame = encodeFrame(OPCODE.text, Buffer.from('hello'), true);
  const frames = [...frame].flatMap((byte) => reader.feed(Buffer.from([byte])));
  assert.deepEqual(
    frames.map((one) => one.payload.toString()),
    ['hello'],
  );
});

test('the reader refuses unmasked, reserved and oversized frames, and reads nothing after', () => {
  const unmasked = new FrameReader(1024);
  assert.deepEqual(unmasked.feed(encodeFrame(OPCODE.text, Buffer.from('x'))), []);
  assert.equal(unmasked.broken?.code, 1002);
  const big = new FrameReader(10);
  big.feed(encodeFrame(OPCODE.binary, Buffer.alloc(11), true));
  assert.equal(big.broken?.code, 1009);
  const reserved = new FrameReader(1024);
  const frame = encodeFrame(OPCODE.text, Buffer.from('x'), true);
  frame[0] = 0x83;
  reserved.feed(frame);
  assert.equal(reserved.broken?.code, 1002);
  assert.deepEqual(reserved.feed(encodeFrame(OPCODE.text, Buffer.from('y'), true)), []);
});

test('a close frame carries its code and a reason cut to fit', () => {
  const frame = closeFrame(1009, 'x'.repeat(300));
  const head = parseFrameHead(frame);
  assert.ok(head && typeof head !== 'string');
  assert.ok(head.length <= 125);
  assert.equal(parseClose(frame.subarray(head.headLength))?.code, 1009);
});
