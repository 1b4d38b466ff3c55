import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, OPCODE } from '../../core/websocket.ts';
import { FrameGate } from './frame-gate.ts';

const limits = { maxMessageBytes: 100, framesPerSecond: 10 };
const gate = (now = () => 0, extensions = false) => new FrameGate({ checked: true, limits, extensions, now });
const joined = (parts: Buffer[]) => Buffer.concat(parts);

test('frames pass untouched, however the bytes are split, and a head split across reads waits for its end', () => {
  const frames = Buffer.concat([encodeFrame(OPCODE.text, Buffer.from('one'), true), encodeFrame(OPCODE.binary, Buffer.alloc(50, 1), true)]);
  const whole = gate();
  assert.deepEqual(joined(whole.feed(frames).pass), frames);
  const split = gate();
  const out: Buffer[] = [];
  for (const byte of frames) out.push(...split.feed(Buffer.from([byte])).pass);
  assert.deepEqual(joined(out), frames);
  assert.equal(split.frames, 2);
  // Two bytes of a head: nothing passes until the head is whole.
  const partial = gate();
  assert.deepEqual(partial.feed(frames.subarray(0, 1)).pass, []);
  assert.equal(partial.atBoundary, false);
});

test('a frame breaking a rule is refused before any of its bytes pass; what came before it passes', () => {
  const good = encodeFrame(OPCODE.text, Buffer.from('ok'), true);
  const cases: Array<[Buffer, number, RegExp]> = [
    [encodeFrame(OPCODE.text, Buffer.from('x')), 1002, /masked/],
    [encodeFrame(OPCODE.binary, Buffer.alloc(101), true), 1009, /over 100 bytes/],
    [encodeFrame(0x3, Buffer.alloc(1), true), 1002, /reserved/],
    [encodeFrame(OPCODE.continuation, Buffer.alloc(1), true), 1002, /no message begun/],
    [encodeFrame(OPCODE.ping, Buffer.alloc(126), true), 1002, /control frame/],
  ];
  for (const [bad, code, reason] of cases) {
    const result = gate().feed(Buffer.concat([good, bad]));
    assert.deepEqual(joined(result.pass), good);
    assert.equal(result.violation?.code, code);
    assert.match(result.violation?.reason ?? '', reason);
  }
  // Reserved bits are an extension's, when one was agreed: a compressed message's first frame may set RSV1.
  const compressed = encodeFrame(OPCODE.text, Buffer.from('z'), true);
  compressed[0] = (compressed[0] as number) | 0x40;
  assert.equal(gate().feed(compressed).violation?.code, 1002);
  assert.equal(gate(() => 0, true).feed(compressed).violation, undefined);
});

test("a fragmented message's size counts all its frames", () => {
  const first = encodeFrame(OPCODE.text, Buffer.alloc(60), true);
  first[0] = OPCODE.text; // not final
  const rest = encodeFrame(OPCODE.continuation, Buffer.alloc(60), true);
  const result = gate().feed(Buffer.concat([first, rest]));
  assert.equal(result.violation?.code, 1009);
});

test('past its frame rate a client is slowed down, by the time its excess takes at that rate', () => {
  let now = 0;
  const paced = gate(() => now);
  const ten = Buffer.concat(Array.from({ length: 10 }, () => encodeFrame(OPCODE.text, Buffer.from('x'), true)));
  assert.equal(paced.feed(ten).throttleMs, 0, 'ten frames are the budget of one second');
  assert.equal(paced.feed(ten).throttleMs, 1000, 'ten more take another second at ten a second');
  now = 1000;
  assert.equal(paced.feed(Buffer.alloc(0)).throttleMs, 0, 'a second later the budget has refilled');
});
