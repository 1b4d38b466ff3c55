import { CLOSE, isControl, isKnownOpcode, OPCODE, parseFrameHead } from '../../core/websocket.ts';

/** What one WebSocket connection's client may send through berth (BERTH_WS_* settings). */
export interface FrameLimits {
  /** The largest message, all its frames together, in bytes; a larger one closes the connection with 1009. */
  maxMessageBytes: number;
  /** Frames a second, on average; a client sending faster is read more slowly, never dropped. */
  framesPerSecond: number;
}

/** Why a connection is closed: the close code and reason its client hears. */
export interface Violation {
  code: number;
  reason: string;
}

/** Bytes to pass on, and, when the client broke a rule, the frame where it did, which does not pass. */
export interface Gated {
  pass: Buffer[];
  violation?: Violation;
  /** How long to stop reading the client, when it sends faster than its frame rate. */
  throttleMs: number;
}

/**
 * Watches one direction of a WebSocket as its bytes pass, without copying or unmasking them: each frame's head is
 * read as it arrives and its payload counted through. From a client (`checked`), a frame breaking RFC 6455
 * (unmasked, an unknown opcode, reserved bits without an extension, a control frame fragmented or over 125 bytes,
 * a continuation with no message begun) or a message over its limit is refused before any of its bytes pass, so the
 * other side always sees whole frames; a frame rate over the limit slows reading down. From the agent, frames are
 * only followed, to know where they begin and whether a close was sent.
 */
export class FrameGate {
  readonly #checked: boolean;
  readonly #limits: FrameLimits;
  /** The peers agreed on an extension (permessage-deflate), which may set RSV1 on a message's first frame. */
  readonly #extensions: boolean;
  readonly #now: () => number;
  /** The bytes of a head whose end has not arrived; they pass once it has. */
  #pendingHead: Buffer | undefined;
  /** Payload bytes of the current frame still to come. */
  #remaining = 0;
  /** A fragmented data message is under way, and its size so far. */
  #inMessage = false;
  #messageBytes = 0;
  #tokens: number;
  #refilledAt: number;
  #closeSeen = false;
  #frames = 0;
  #broken = false;

  constructor(options: { checked: boolean; limits: FrameLimits; extensions: boolean; now?: () => number }) {
    this.#checked = options.checked;
    this.#limits = options.limits;
    this.#extensions = options.extensions;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.limits.framesPerSecond;
    this.#refilledAt = this.#now();
  }

  /** A close frame has passed. */
  get closeSeen(): boolean {
    return this.#closeSeen;
  }

  /** Between frames: another frame may be written here without splitting one. */
  get atBoundary(): boolean {
    return this.#remaining === 0 && this.#pendingHead === undefined;
  }

  get frames(): number {
    return this.#frames;
  }

  feed(chunk: Buffer): Gated {
    if (this.#broken) return { pass: [], throttleMs: 0 };
    const pass: Buffer[] = [];
    const start = 0;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - offset);
        this.#remaining -= take;
        offset += take;
        continue;
      }
      // A head: from where it began (perhaps in an earlier chunk) to as far as it may reach.
      const before = this.#pendingHead;
      const bytes = before ? Buffer.concat([before, chunk.subarray(offset, offset + 14)]) : chunk.subarray(offset, offset + 14);
      const head = parseFrameHead(bytes);
      if (head === undefined) {
        // The head ends in a later chunk: its bytes wait, so that a refused frame never passes in part.
        if (offset > start) pass.push(chunk.subarray(start, offset));
        this.#pendingHead = Buffer.from(bytes);
        return { pass, throttleMs: this.#throttle() };
      }
      const problem = typeof head === 'string' ? { code: CLOSE.protocolError, reason: head } : this.#check(head);
      if (problem) {
        if (offset > start) pass.push(chunk.subarray(start, offset));
        this.#broken = true;
        return { pass, violation: problem, throttleMs: 0 };
      }
      const used = (head as Exclude<typeof head, string>).headLength - (before?.length ?? 0);
      if (before) {
        pass.push(before);
        this.#pendingHead = undefined;
      }
      this.#frames++;
      this.#tokens--;
      this.#remaining = (head as Exclude<typeof head, string>).length;
      offset += used;
    }
    if (offset > start) pass.push(chunk.subarray(start, offset));
    return { pass, throttleMs: this.#throttle() };
  }

  #check(head: { fin: boolean; rsv: number; opcode: number; mask: Buffer | undefined; length: number }): Violation | undefined {
    const { opcode } = head;
    if (opcode === OPCODE.close) this.#closeSeen = true;
    if (!this.#checked) return undefined;
    if (!head.mask) return { code: CLOSE.protocolError, reason: 'a client frame must be masked' };
    if (!isKnownOpcode(opcode)) return { code: CLOSE.protocolError, reason: `opcode ${opcode} is reserved` };
    if (isControl(opcode)) {
      if (!head.fin || head.length > 125) return { code: CLOSE.protocolError, reason: 'a control frame must be whole and at most 125 bytes' };
      if (head.rsv !== 0) return { code: CLOSE.protocolError, reason: 'reserved bits set on a control frame' };
      return undefined;
    }
    const compressedStart = this.#extensions && head.rsv === 0x40 && opcode !== OPCODE.continuation;
    if (head.rsv !== 0 && !compressedStart) return { code: CLOSE.protocolError, reason: 'reserved bits set without an extension that uses them' };
    if (opcode === OPCODE.continuation) {
      if (!this.#inMessage) return { code: CLOSE.protocolError, reason: 'a continuation frame with no message begun' };
    } else {
      if (this.#inMessage) return { code: CLOSE.protocolError, reason: 'a new message began before the last one ended' };
      this.#messageBytes = 0;
    }
    this.#messageBytes += head.length;
    if (this.#messageBytes > this.#limits.maxMessageBytes) {
      return { code: CLOSE.tooBig, reason: `a message over ${this.#limits.maxMessageBytes} bytes (BERTH_WS_MAX_MESSAGE_BYTES)` };
    }
    this.#inMessage = !head.fin;
    return undefined;
  }

  /** Refills the frame budget for the time passed; a budget spent below zero is time to wait. */
  #throttle(): number {
    const rate = this.#limits.framesPerSecond;
    const now = this.#now();
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#refilledAt) * rate) / 1000);
    this.#refilledAt = now;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / rate);
  }
}
