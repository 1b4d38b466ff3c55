import { chunkSize } from './http1-wire.ts';

/** The most of a head read: heads are a few hundred bytes. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** The most of a chunk's size line (with any extensions) or of the trailers read. */
const MAX_LINE_BYTES = 4 * 1024;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
export const EMPTY = Buffer.alloc(0);

/** Where a connection is in its messages: `idle` reads nothing (bytes then break HTTP). */
type ReadState = 'idle' | 'head' | 'fixed' | 'until-close' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers';

/** How a message's body ends: after this many bytes, with its last chunk, or when the connection closes. */
export type Framing = number | 'chunked' | 'close';

/**
 * The reading side of one HTTP/1.1 connection, for berth's client and server alike: a head, then a body framed by
 * its length, by chunks or by the connection's end, then nothing until the next message is expected. It checks what
 * it reads: a head or a line past its bound, a malformed chunk, or bytes nobody expects end in `protocolError`, and
 * nothing more is read. Each byte is looked at once however the peer splits its bytes (a head trickled a byte at a
 * time costs no more than one sent whole).
 */
export abstract class Http1Reader {
  #state: ReadState = 'idle';
  /** Bytes of a head or a line whose end has not arrived, as they came: joined once, when it does. */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  /** The last bytes pending, where an end that straddles two reads begins. */
  #tail: Buffer = EMPTY;
  #remaining = 0;
  /** Trailer bytes read so far, bounded as a head is. */
  #trailerBytes = 0;

  /** The head's text (up to its blank line) and the bytes after it; returns the bytes still to read, or undefined. */
  protected abstract head(text: string, rest: Buffer): Buffer | undefined;
  /** A piece of the body. */
  protected abstract body(bytes: Buffer): void;
  /** The message ended. */
  protected abstract ended(): void;
  /** The peer broke HTTP with `message`; nothing more is read. */
  protected abstract protocolError(message: string): void;
  /** Whether a message is wanted at all now (bytes read while none is break HTTP). */
  protected abstract get expecting(): boolean;

  /** Whether the next message may follow this one's end in the same read (it is not answered first). */
  protected get acceptsMore(): boolean {
    return false;
  }

  /** Nothing is read until the next head is expected. */
  get idle(): boolean {
    return this.#state === 'idle';
  }

  /** Whether the message's body ends with the connection. */
  get untilClose(): boolean {
    return this.#state === 'until-close';
  }

  /** The next bytes begin a head. */
  expectHead(): void {
    this.#state = 'head';
  }

  /** The rest of the message is its body, framed as `framing` (0: no body). */
  protected expectBody(framing: Framing): void {
    if (framing === 'chunked') this.#state = 'chunk-size';
    else if (framing === 'close') this.#state = 'until-close';
    else {
      this.#state = 'fixed';
      this.#remaining = framing;
    }
  }

  /** Stops reading: the message is over (the connection is about to close, or the next head is expected later). */
  protected stop(): void {
    this.#state = 'idle';
  }

  read(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0) {
      if (this.#state === 'idle' || !this.expecting) {
        this.protocolError('bytes arrived that nobody asked for');
        return;
      }
      switch (this.#state) {
        case 'head': {
          const found = this.#seek(data, HEAD_END, MAX_HEAD_BYTES, 'a head');
          if (!found) return;
          const rest = this.head(found.bytes.toString('latin1', 0, found.end), found.bytes.subarray(found.end + 4));
          if (rest === undefined) return;
          data = rest;
          break;
        }
        case 'fixed': {
          data = this.#deliverCounted(data);
          if (this.#remaining > 0) return;
          this.complete(data);
          return;
        }
        case 'until-close':
          this.body(data);
          return;
        case 'chunk-size': {
          const line = this.#line(data);
          if (line === undefined) return;
          data = line.rest;
          const size = chunkSize(line.text);
          if (size === undefined) {
            this.protocolError(`a chunk size of "${line.text.slice(0, 40)}"`);
            return;
          }
          if (size === 0) {
            this.#state = 'trailers';
            this.#trailerBytes = 0;
          } else {
            this.#remaining = size;
            this.#state = 'chunk-data';
          }
          break;
        }
        case 'chunk-data': {
          data = this.#deliverCounted(data);
          if (this.#remaining === 0) {
            this.#state = 'chunk-end';
            this.#remaining = 2;
          }
          break;
        }
        case 'chunk-end': {
          // The CRLF after a chunk's data, which may arrive split.
          const expected = this.#remaining === 2 ? 13 : 10;
          if (data[0] !== expected) {
            this.protocolError('a chunk not followed by CRLF');
            return;
          }
          data = data.subarray(1);
          this.#remaining -= 1;
          if (this.#remaining === 0) this.#state = 'chunk-size';
          break;
        }
        case 'trailers': {
          const line = this.#line(data);
          if (line === undefined) return;
          data = line.rest;
          this.#trailerBytes += line.text.length + 2;
          if (this.#trailerBytes > MAX_HEAD_BYTES) {
            this.protocolError(`trailers longer than ${MAX_HEAD_BYTES} bytes`);
            return;
          }
          if (line.text === '') {
            this.complete(data);
            return;
          }
          break;
        }
      }
    }
  }

  /** The message ended with `rest` after it: the peer sends nothing more until asked (no pipelining), unless `acceptsMore`. */
  protected complete(rest: Buffer): void {
    this.#state = 'idle';
    if (rest.length > 0 && !this.acceptsMore) {
      this.protocolError('bytes after the end of a message');
      return;
    }
    this.ended();
    if (rest.length > 0) this.read(rest);
  }

  /** Delivers up to the bytes still expected (of a length, or of a chunk); returns what follows them. */
  #deliverCounted(data: Buffer): Buffer {
    const take = Math.min(this.#remaining, data.length);
    this.#remaining -= take;
    this.body(take === data.length ? data : data.subarray(0, take));
    return data.subarray(take);
  }

  /** A CRLF-ended line at the start of `data` (with what was pending), or undefined until its end arrives. */
  #line(data: Buffer): { text: string; rest: Buffer } | undefined {
    const found = this.#seek(data, CRLF, MAX_LINE_BYTES, 'a line');
    if (!found) return undefined;
    const { bytes, end } = found;
    return { text: bytes.toString('latin1', 0, end), rest: bytes.subarray(end + CRLF.length) };
  }

  /**
   * Looks for `end` in what is pending and `data`: the bytes joined and where `end` starts; or undefined while it has
   * not arrived (`data` is kept), or once more than `max` bytes of `what` came without it (a protocol error).
   */
  #seek(data: Buffer, end: Buffer, max: number, what: string): { bytes: Buffer; end: number } | undefined {
    const probe = this.#tail.length > 0 ? Buffer.concat([this.#tail, data]) : data;
    const at = probe.indexOf(end);
    const found = at < 0 ? -1 : this.#pendingLength - this.#tail.length + at;
    if (found > max || (found < 0 && this.#pendingLength + data.length > max)) {
      this.protocolError(`${what} longer than ${max} bytes`);
      return undefined;
    }
    if (found < 0) {
      this.#pending.push(data);
      this.#pendingLength += data.length;
      this.#tail = probe.subarray(Math.max(0, probe.length - (end.length - 1)));
      return undefined;
    }
    const bytes = this.#pendingLength === 0 ? data : Buffer.concat([...this.#pending, data]);
    this.#pending = [];
    this.#pendingLength = 0;
    this.#tail = EMPTY;
    return { bytes, end: found };
  }
}
