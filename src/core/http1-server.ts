import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { EMPTY, Http1Reader } from './http1-reader.ts';
import { readUpTo } from './read-up-to.ts';
import { answerHead, parseRequestHead, type AnswerHeaders, type Http1Headers } from './http1-wire.ts';

export interface Http1ServerOptions {
  /** How long a connection that carried a request waits for the next one. */
  idleMs: number;
  /** How long a request's head may take once its first bytes came; 0 for no bound. */
  headersTimeoutMs: number;
}

export type Http1Handler = (req: Http1ServerRequest, res: Http1ServerResponse) => void;

/**
 * A lean HTTP/1.1 server for one peer berth talks to on every call (the supervisor's side of a sandbox's channel):
 * one request at a time per connection, no pipelining; an upgrade's handler takes the connection over
 * (`Http1ServerRequest.takeOver`). It does less per request than node:http, which
 * matters most in a sandbox that has not run for a while (its memory is no longer in the CPU's caches): a head is
 * parsed once from the bytes it came in, a short body that arrives with its head is handed over as a Buffer, and a
 * whole answer goes out with its head in one write. What breaks HTTP gets a 400 and closes that connection.
 */
export function http1Server(handler: Http1Handler, options: Http1ServerOptions): Server {
  return createServer((socket) => serveHttp1(socket, handler, options));
}

/** Serves requests on `socket` (one accepted, or one dialled to the peer) until it closes. */
export function serveHttp1(socket: Socket, handler: Http1Handler, options: Http1ServerOptions): void {
  new ServerConnection(socket, handler, options);
}

/** One request: its head, and its body as a Buffer (when it came with the head) or as a stream. */
export class Http1ServerRequest {
  readonly method: string;
  /** The request target as sent: a path and its query. */
  readonly url: string;
  /** Names lower-cased; a repeated field's values in an array. */
  readonly headers: Http1Headers;
  readonly socket: Socket;
  /** The whole body, when it arrived with the head (no body: empty); otherwise `body()` streams it. */
  readonly whole: Buffer | undefined;
  readonly #stream: Readable | undefined;
  #takeOver: (() => Upgraded) | undefined;

  constructor(method: string, url: string, headers: Http1Headers, socket: Socket, body: Buffer | Readable) {
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.socket = socket;
    if (body instanceof Readable) this.#stream = body;
    else this.whole = body;
  }

  /** A request to upgrade the connection (it carries `Upgrade`); its handler may take the connection over. */
  get upgrade(): boolean {
    return this.#takeOver !== undefined;
  }

  /**
   * The connection, taken over from HTTP for an upgrade: nothing more is read or written as HTTP on it, and `head`
   * holds the bytes that came after the request's head. Only an upgrade request's handler may call it, once, before
   * answering; a handler that answers instead closes the connection with that answer.
   */
  takeOver(): Upgraded {
    const takeOver = this.#takeOver;
    if (!takeOver) throw new Error('only an upgrade request, not yet answered, hands its connection over');
    this.#takeOver = undefined;
    return takeOver();
  }

  /** @internal the connection's part in an upgrade. */
  offerConnection(takeOver: () => Upgraded): void {
    this.#takeOver = takeOver;
  }

  /** The body as a stream (one made of `whole` when it came whole). */
  body(): Readable {
    if (this.#stream) return this.#stream;
    const stream = new Readable({ read() {} });
    if ((this.whole as Buffer).length > 0) stream.push(this.whole);
    stream.push(null);
    return stream;
  }

  /** The whole body, once it has arrived; rejects past `max` bytes or when the client goes away first. */
  async bytes(max: number): Promise<Buffer> {
    const tooLarge = (): RangeError => new RangeError(`the body is over ${max} bytes`);
    const whole = this.whole;
    if (whole) {
      if (whole.length > max) throw tooLarge();
      return whole;
    }
    const stream = this.#stream as Readable;
    const read = await readUpTo(stream, max);
    if (read instanceof Error) throw read;
    if (Array.isArray(read)) {
      stream.destroy();
      throw tooLarge();
    }
    return read;
  }

  /** Reads and drops whatever of the body is left. */
  discard(): void {
    this.#stream?.resume();
  }
}

/** A connection taken over for an upgrade, with the bytes that followed its request's head. */
export interface Upgraded {
  socket: Socket;
  head: Buffer;
}

/**
 * The answer to one request, written as node:http's is (`writeHead`, `write`, `end`, `flushHeaders`), so handlers
 * read the same: a body whose length the head gives goes as it is, one given whole to `end` before anything was
 * sent goes with its length, any other in chunks. It emits `drain` as its connection does, and `close` once, when
 * it is over: finished (`writableFinished`), or cut short by the connection's end or `destroy`.
 */
export class Http1ServerResponse extends EventEmitter {
  /** The head is written or decided (after `writeHead`, as node:http's). */
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  readonly #connection: ServerConnection;
  /** The request was HEAD: no body goes out, whatever is written. */
  readonly #headOnly: boolean;
  #status = 200;
  #headers: AnswerHeaders | undefined;
  /** The head, until it goes out with the first body bytes (or alone on `flushHeaders`). */
  #head: string | undefined;
  #chunked = false;
  #bodiless = false;
  #closed = false;

  constructor(connection: ServerConnection, headOnly: boolean) {
    super();
    this.#connection = connection;
    this.#headOnly = headOnly;
  }

  writeHead(status: number, headers?: AnswerHeaders): this {
    if (this.headersSent) throw new Error('the answer has begun: its head cannot be written again');
    this.#status = status;
    this.#headers = headers;
    this.headersSent = true;
    return this;
  }

  /** Sends the head now, before any body (a stream that starts with nothing to say yet). */
  flushHeaders(): void {
    if (this.#head === undefined && !this.writableEnded) this.#send(this.#headFor(undefined), EMPTY);
  }

  write(chunk: string | Uint8Array): boolean {
    if (this.writableEnded || this.destroyed) return false;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const head = this.#head === undefined ? this.#headFor(undefined) : '';
    return this.#send(head, this.#framed(bytes));
  }

  end(chunk?: string | Uint8Array): this {
    if (this.writableEnded || this.destroyed) return this;
    const bytes = chunk === undefined ? EMPTY : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.writableEnded = true;
    const head = this.#head === undefined ? this.#headFor(bytes.length) : '';
    const framed = this.#framed(bytes);
    this.#send(head, this.#chunked && !this.#bodiless ? Buffer.concat([framed, LAST_CHUNK]) : framed);
    this.writableFinished = true;
    this.#connection.answered(this);
    process.nextTick(() => this.closed());
    return this;
  }

  /** Writes `body` as it arrives (as fast as the connection takes it), then ends the answer; cut short if it fails. */
  relay(body: Readable): void {
    body.on('data', (chunk: Buffer) => {
      if (this.write(chunk) || this.destroyed) return;
      body.pause();
      this.once('drain', () => body.resume());
    });
    body.once('end', () => this.end());
    body.once('error', () => this.destroy());
  }

  /** Cuts the answer short, closing its connection (the client sees it end early). */
  destroy(): void {
    // Once finished, the connection is no longer this answer's: it may carry the next request already.
    if (this.writableFinished) return;
    this.#connection.socket.destroy();
    this.closed();
  }

  /** The answer is over, one way or the other: `close`, once. */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.writableFinished) this.destroyed = true;
    this.emit('close');
  }

  /** The head for the body ahead: its length when known (`end` before anything went out), chunks otherwise. */
  #headFor(length: number | undefined): string {
    const status = this.#status;
    const headers = this.#headers;
    this.#bodiless = this.#headOnly || status === 204 || status === 304 || status < 200;
    this.headersSent = true;
    let fields = this.#connection.connectionFields;
    if (!this.#bodiless && !hasLength(headers)) {
      if (length !== undefined) fields = `content-length: ${length}\r\n${fields}`;
      else {
        this.#chunked = true;
        fields = `transfer-encoding: chunked\r\n${fields}`;
      }
    }
    const head = answerHead(status, reasonPhrase(status), headers, fields);
    this.#head = head;
    return head;
  }

  #framed(bytes: Uint8Array): Uint8Array {
    if (this.#bodiless || bytes.length === 0) return EMPTY;
    if (!this.#chunked) return bytes;
    return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`, 'latin1'), bytes, CRLF]);
  }

  /** Writes the head (if any) and body bytes in one write. */
  #send(head: string, bytes: Uint8Array): boolean {
    const socket = this.#connection.socket;
    if (socket.destroyed) return false;
    if (head === '') return bytes.length === 0 ? true : socket.write(bytes);
    if (bytes.length === 0) return socket.write(head, 'latin1');
    const headLength = Buffer.byteLength(head, 'latin1');
    const out = Buffer.allocUnsafe(headLength + bytes.length);
    out.write(head, 0, 'latin1');
    out.set(bytes, headLength);
    return socket.write(out);
  }
}

function hasLength(headers: AnswerHeaders | undefined): boolean {
  for (const name in headers) if (name.toLowerCase() === 'content-length') return true;
  return false;
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** One connection: a request, its answer, then the next request, until either side closes. */
class ServerConnection extends Http1Reader {
  readonly socket: Socket;
  readonly #handler: Http1Handler;
  readonly #options: Http1ServerOptions;
  #keepAlive = true;
  /** The request being read or answered, and its answer. */
  #request: { stream: Readable | undefined; done: boolean; response: Http1ServerResponse; discarding: boolean } | undefined;
  #headTimer: NodeJS.Timeout | undefined;
  /** The connection closes once its last answer is out: nothing more is read. */
  #closing = false;

  constructor(socket: Socket, handler: Http1Handler, options: Http1ServerOptions) {
    super();
    this.socket = socket;
    this.#handler = handler;
    this.#options = options;
    socket.on('data', this.#onData);
    socket.on('drain', this.#onDrain);
    socket.on('error', () => {});
    socket.on('timeout', this.#onTimeout);
    socket.once('close', this.#onClose);
    this.expectHead();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#closing) return;
    if (this.#request === undefined && this.#headTimer === undefined && this.#options.headersTimeoutMs > 0) {
      this.#headTimer = setTimeout(() => this.socket.destroy(), this.#options.headersTimeoutMs);
    }
    this.read(chunk);
  };

  readonly #onDrain = (): void => {
    this.#request?.response.emit('drain');
  };

  readonly #onTimeout = (): void => {
    if (this.#request === undefined || this.#closing) this.socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#closed();
  };

  /** Hands the socket over for an upgrade: this connection reads, writes and times nothing more. */
  #detach(rest: Buffer): Upgraded {
    this.stop();
    this.#closing = true;
    this.#request = undefined;
    clearTimeout(this.#headTimer);
    const { socket } = this;
    socket.removeListener('data', this.#onData);
    socket.removeListener('drain', this.#onDrain);
    socket.removeListener('timeout', this.#onTimeout);
    socket.removeListener('close', this.#onClose);
    socket.setTimeout(0);
    return { socket, head: rest };
  }

  /** The head's fields for the connection: whether it carries another request, and for how long it waits. */
  get connectionFields(): string {
    return this.#keepAlive ? `keep-alive: timeout=${Math.floor(this.#options.idleMs / 1000)}\r\n` : 'connection: close\r\n';
  }

  /**
   * `response` is finished: the next request may come, if the connection stays open. A request whose body is still
   * arriving (it was answered early) has the rest of its body read and dropped first, as node:http does, so the
   * keep-alive its answer promised holds.
   */
  answered(response: Http1ServerResponse): void {
    const request = this.#request;
    if (request?.response !== response) return;
    if (!this.#keepAlive || this.socket.destroyed) this.#closeAfterWrites();
    else if (request.done) this.#next();
    else {
      request.discarding = true;
      this.socket.resume();
    }
  }

  #next(): void {
    this.#request = undefined;
    this.expectHead();
    // A body read in full may have paused the socket on its last bytes; nothing else would resume it.
    this.socket.resume();
    this.socket.setTimeout(this.#options.idleMs);
  }

  #closeAfterWrites(): void {
    this.#closing = true;
    this.stop();
    // A client that never reads its answer does not hold the connection for ever.
    this.socket.setTimeout(this.#options.idleMs);
    this.socket.end(() => this.socket.destroy());
  }

  /** The next request's bytes may follow a body being dropped in the same read. */
  protected override get acceptsMore(): boolean {
    return this.#request?.discarding === true;
  }

  protected override get expecting(): boolean {
    return !this.#closing && !this.socket.destroyed;
  }

  protected override head(text: string, rest: Buffer): Buffer | undefined {
    clearTimeout(this.#headTimer);
    this.#headTimer = undefined;
    this.socket.setTimeout(0);
    const head = parseRequestHead(text);
    if (typeof head === 'string') {
      this.protocolError(head);
      return undefined;
    }
    this.#keepAlive = head.keepAlive;
    const response = new Http1ServerResponse(this, head.method === 'HEAD');
    const { framing } = head;
    if (head.headers.upgrade !== undefined && framing === 0) {
      // An upgrade the handler declines is answered, and the connection closes after: its bytes are not HTTP's.
      this.#keepAlive = false;
      const request = new Http1ServerRequest(head.method, head.path, head.headers, this.socket, EMPTY);
      request.offerConnection(() => this.#detach(rest));
      this.#request = { stream: undefined, done: true, response, discarding: false };
      this.stop();
      this.#handler(request, response);
      return undefined;
    }
    if (typeof framing === 'number' && rest.length >= framing) {
      const request = new Http1ServerRequest(head.method, head.path, head.headers, this.socket, rest.subarray(0, framing));
      this.#request = { stream: undefined, done: false, response, discarding: false };
      this.complete(rest.subarray(framing));
      if (!this.#closing) this.#handler(request, response);
      return undefined;
    }
    const stream = new Readable({ read: () => this.socket.resume() });
    // A body its handler never reads may still fail (its client leaves): that must not throw.
    stream.on('error', () => {});
    this.#request = { stream, done: false, response, discarding: false };
    this.expectBody(framing);
    this.#handler(new Http1ServerRequest(head.method, head.path, head.headers, this.socket, stream), response);
    return this.#closing ? undefined : rest;
  }

  protected override body(bytes: Buffer): void {
    const request = this.#request;
    if (!request || request.discarding) return;
    if (request.stream && !request.stream.push(bytes)) this.socket.pause();
  }

  protected override ended(): void {
    const request = this.#request;
    if (!request) return;
    request.done = true;
    if (request.discarding) this.#next();
    else request.stream?.push(null);
  }

  protected override protocolError(message: string): void {
    clearTimeout(this.#headTimer);
    const request = this.#request;
    if (request && !request.response.headersSent) {
      // A body that breaks HTTP part way: its request fails; the client is told why.
      request.stream?.destroy(new Error(`the request broke HTTP/1.1: ${message}`));
    }
    if (!request || !request.response.headersSent) {
      const body = `the request broke HTTP/1.1: ${message}\n`;
      this.socket.write(
        `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      this.#closeAfterWrites();
      request?.response.closed();
    } else this.socket.destroy();
  }

  #closed(): void {
    clearTimeout(this.#headTimer);
    const request = this.#request;
    if (!request) return;
    if (!request.done) request.stream?.destroy(new Error('the client closed the connection before the request was complete'));
    request.response.closed();
  }
}

let reasons: Record<number, string | undefined> | undefined;

/** node:http only for its reason phrases, loaded at the first answer rather than when a sandbox's supervisor starts. */
function reasonPhrase(status: number): string {
  reasons ??= process.getBuiltinModule('node:http').STATUS_CODES;
  return reasons[status] ?? '';
}
