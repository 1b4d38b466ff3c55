import type * as Crypto from 'node:crypto';

/**
 * WebSocket (RFC 6455) as berth reads and writes it: the handshake's accept key, frame heads parsed from bytes as
 * they arrive, and whole frames built. Pure functions and one small parser; the relay (../edge/ws/relay.ts) and the
 * supervisor's shell server build on them.
 */

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** Close codes berth sends (RFC 6455 section 7.4.1). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** node:crypto, loaded at first use: the supervisor, which every sandbox starts, imports this file and rarely needs it. */
function crypto(): typeof Crypto {
  return process.getBuiltinModule('node:crypto');
}

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return crypto().createHash('sha1').update(`${key}${GUID}`).digest('base64');
}

/** A `Sec-WebSocket-Key` is 16 bytes in base64 (RFC 6455 section 4.1). */
export function isWebSocketKey(key: string | null): key is string {
  return key !== null && /^[A-Za-z0-9+/]{22}==$/.test(key);
}

export interface FrameHead {
  fin: boolean;
  /** The three reserved bits, as the high bits of the first byte (0x70 mask). */
  rsv: number;
  opcode: number;
  /** The masking key, when the frame is masked (every client frame is). */
  mask: Buffer | undefined;
  /** The payload's length. */
  length: number;
  /** The head's own length in bytes (2 to 14). */
  headLength: number;
}

/** The largest payload length berth reads from a head; longer ones are refused before any of it arrives. */
const MAX_SAFE_LENGTH = 2 ** 53 - 1;

/**
 * The head of the frame at the start of `bytes`: undefined until enough bytes have come, or what is wrong with it.
 */
export function parseFrameHead(bytes: Buffer): FrameHead | undefined | string {
  if (bytes.length < 2) return undefined;
  const first = bytes[0] as number;
  const second = bytes[1] as number;
  const masked = (second & 0x80) !== 0;
  let length = second & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (bytes.length < 4) return undefined;
    length = bytes.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return undefined;
    const big = bytes.readBigUInt64BE(2);
    if (big > BigInt(MAX_SAFE_LENGTH)) return 'a frame longer than 2^53 bytes';
    length = Number(big);
    offset = 10;
  }
  let mask: Buffer | undefined;
  if (masked) {
    if (bytes.length < offset + 4) return undefined;
    mask = Buffer.from(bytes.subarray(offset, offset + 4));
    offset += 4;
  }
  return { fin: (first & 0x80) !== 0, rsv: first & 0x70, opcode: first & 0x0f, mask, length, headLength: offset };
}

/** Whether `opcode` is one RFC 6455 defines. */
export function isKnownOpcode(opcode: number): boolean {
  return opcode <= OPCODE.binary || (opcode >= OPCODE.close && opcode <= OPCODE.pong);
}

export function isControl(opcode: number): boolean {
  return (opcode & 0x08) !== 0;
}

/** Applies (or removes: it is its own inverse) `mask` to `payload` in place, starting at mask byte `offset`. */
export function applyMask(payload: Buffer, mask: Buffer, offset = 0): void {
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[(i + offset) & 3] as number);
}

/**
 * One whole frame (final, no extension bits). A client's frames are masked (`masked`); a server's are not.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, masked = false): Buffer {
  const length = payload.length;
  const extra = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const headLength = 2 + extra + (masked ? 4 : 0);
  const frame = Buffer.allocUnsafe(headLength + length);
  frame[0] = 0x80 | opcode;
  frame[1] = (masked ? 0x80 : 0) | (extra === 0 ? length : extra === 2 ? 126 : 127);
  if (extra === 2) frame.writeUInt16BE(length, 2);
  else if (extra === 8) frame.writeBigUInt64BE(BigInt(length), 2);
  frame.set(payload, headLength);
  if (masked) {
    const mask = crypto().randomBytes(4);
    mask.copy(frame, 2 + extra);
    applyMask(frame.subarray(headLength), mask);
  }
  return frame;
}

/** A close frame with `code` and `reason` (cut to fit a control frame's 125 bytes). */
export function closeFrame(code: number, reason: string, masked = false): Buffer {
  const text = Buffer.from(reason).subarray(0, 123);
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return encodeFrame(OPCODE.close, payload, masked);
}

/** A close frame's code and reason, or undefined when it carries none. */
export function parseClose(payload: Buffer): { code: number; reason: string } | undefined {
  if (payload.length < 2) return undefined;
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

export interface Frame {
  fin: boolean;
  opcode: number;
  /** The payload, unmasked. */
  payload: Buffer;
}

/**
 * Reads a client's frames from the bytes of one connection, each whole and unmasked, for a server that speaks
 * WebSocket itself (the supervisor's shells). A frame over `maxPayload` bytes, an unmasked or reserved one, is
 * `broken`: the reader stops there, and the connection is closed with the code and reason it gives.
 */
export class FrameReader {
  readonly #maxPayload: number;
  #buffered: Buffer = Buffer.alloc(0);
  broken: { code: number; reason: string } | undefined;

  constructor(maxPayload: number) {
    this.#maxPayload = maxPayload;
  }

  /** The frames `chunk` completes, in order; none once broken. */
  feed(chunk: Buffer): Frame[] {
    if (this.broken) return [];
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const head = parseFrameHead(this.#buffered);
      if (head === undefined) break;
      if (typeof head === 'string') return this.#break(CLOSE.protocolError, head, frames);
      if (!head.mask) return this.#break(CLOSE.protocolError, 'a client frame must be masked', frames);
      if (!isKnownOpcode(head.opcode) || head.rsv !== 0) return this.#break(CLOSE.protocolError, 'a reserved opcode or bit', frames);
      if (head.length > this.#maxPayload) return this.#break(CLOSE.tooBig, `a frame over ${this.#maxPayload} bytes`, frames);
      const end = head.headLength + head.length;
      if (this.#buffered.length < end) break;
      const payload = Buffer.from(this.#buffered.subarray(head.headLength, end));
      applyMask(payload, head.mask);
      frames.push({ fin: head.fin, opcode: head.opcode, payload });
      this.#buffered = this.#buffered.subarray(end);
    }
    return frames;
  }

  #break(code: number, reason: string, frames: Frame[]): Frame[] {
    this.broken = { code, reason };
    this.#buffered = Buffer.alloc(0);
    return frames;
  }
}
