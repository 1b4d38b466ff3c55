import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { CHUNKED_HEAD_END, chunkSize, parseHead, requestHead, type Http1Headers, type Http1Request } from './http1-wire.ts';

export { authorityOf, type Http1Headers, type Http1Request } from './http1-wire.ts';

/** An answer as it starts: its status, its headers (names lower-cased), and its body as it arrives. */
export interface Http1Response {
  statusCode: number;
  headers: Http1Headers;
  readonly body: Readable;
  /**
   * The whole body, when it arrived with the head (a short answer's usual case): read from here, no stream is made
   * (`body` makes one on first use).
   */
  readonly whole: Buffer | undefined;
}

/** The peer broke HTTP: its connection is closed, and nothing more is read from it. */
export class HttpProtocolError extends Error {}

/** Makes a new connection to the peer; `signal` aborts the attempt. */
export type Connector = (signal: AbortSignal) => Promise<Socket>;

export interface Http1ClientOptions {
  /** How long an idle connection is kept (less when the peer's Keep-Alive says it closes sooner). */
  idleMs: number;
  /** The peer as messages name it, such as "the sandbox's channel". */
  peer: string;
}

/** The most of an answer's head read: heads are a few hundred bytes. */
const MAX_HEAD_BYTES = 64 * 1024;
/** The most of a chunk's size line (with any extensions) or of the trailers berth reads. */
const MAX_LINE_BYTES = 4 * 1024;
/** A request body up to this size goes out with its head as one buffer, in one write. */
const ONE_WRITE_BYTES = 16 * 1024;
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);
const HEAD_END = Buffer.from('\r\n\r\n');
const LAST_CHUNK = '0\r\n\r\n';
/** The signal of a request that gives none. */
const NEVER = new AbortController().signal;

/**
 * A lean HTTP/1.1 client for a peer berth talks to on every call (a sandbox's channel; a server inside a sandbox):
 * one request per connection at a time, idle connections kept for the next call, no pipelining. It takes nothing on
 * trust: a head past its size, a malformed status, header, length or chunk, or bytes no request asked for close
 * that connection and fail its call with an HttpProtocolError. It does less per call than a general client: a whole
 * body goes out with its head in one write, an answer's head is parsed once, from the bytes it came in, and an
 * answer that arrives whole with its head is handed over as a Buffer.
 */
export class Http1Client {
  readonly #connect: Connector;
  readonly #options: Http1ClientOptions;
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  #closed: string | undefined;

  constructor(connect: Connector, options: Http1ClientOptions) {
    this.#connect = connect;
    this.#options = options;
  }

  get peer(): string {
    return this.#options.peer;
  }

  async request(request: Http1Request): Promise<Http1Response> {
    const signal = request.signal ?? NEVER;
    if (signal.aborted) throw abortError(signal);
    const head = requestHead(request);
    const { body } = request;
    let connection = this.#takeIdle();
    if (!connection) {
      // A streamed body may fail while the connection is made: that is the call's failure, as it is once sending.
      let failed: Error | undefined;
      const onError = (error: Error): void => {
        failed = error;
      };
      if (body instanceof Readable) body.once('error', onError);
      let socket;
      try {
        if (this.#closed !== undefined) throw new Error(this.#closed);
        socket = await this.#connect(signal);
      } finally {
        if (body instanceof Readable) body.off('error', onError);
      }
      if (failed || (body instanceof Readable && body.destroyed)) {
        socket.destroy();
        throw failed ?? new Error('the request body was closed before it was sent');
      }
      // The caller may have gone while the connection was made, the client been closed, or the connection closed
      // before its first use.
      if (signal.aborted || this.#closed !== undefined) {
        socket.destroy();
        throw signal.aborted ? abortError(signal) : new Error(this.#closed);
      }
      if (socket.destroyed || !socket.writable) throw new Error(`${this.#options.peer} closed a new connection before its first request`);
      connection = new Connection(socket, this);
      this.#all.add(connection);
    }
    return connection.send(head, body, signal, request.method === 'HEAD', request.keepBody === true);
  }

  /** Ends every connection, in use or not; calls then fail with `reason`. */
  close(reason = 'the client was closed'): void {
    this.#closed = reason;
    this.#idle.length = 0;
    for (const connection of this.#all) connection.destroy(new Error(reason));
    this.#all.clear();
  }

  /** A connection whose exchange is over and that may carry another, for at most `idleMs` (the peer's hint). */
  released(connection: Connection, idleMs: number | undefined): void {
    if (this.#closed !== undefined) {
      connection.destroy();
      return;
    }
    connection.socket.setTimeout(Math.min(this.#options.idleMs, idleMs ?? Infinity));
    this.#idle.push(connection);
  }

  /** A connection that closed, idle or not. */
  gone(connection: Connection): void {
    this.#all.delete(connection);
    const index = this.#idle.indexOf(connection);
    if (index >= 0) this.#idle.splice(index, 1);
  }

  #takeIdle(): Connection | undefined {
    // The most recently used first: it is the one the peer is surest to keep open.
    for (let connection = this.#idle.pop(); connection; connection = this.#idle.pop()) {
      if (!connection.socket.destroyed && connection.socket.writable) {
        connection.socket.setTimeout(0);
        return connection;
      }
    }
    return undefined;
  }
}

type ParseState = 'idle' | 'head' | 'fixed' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close';

/** One connection to the peer, carrying one exchange at a time. */
class Connection {
  readonly socket: Socket;
  readonly #client: Http1Client;
  #state: ParseState = 'idle';
  /** Bytes of a head or a line whose end has not arrived, as they came: joined once, when it does. */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  /** The last bytes pending, where an end that straddles two reads begins. */
  #tail: Buffer = EMPTY;
  #remaining = 0;
  /** Trailer bytes read so far, bounded as a head is. */
  #trailerBytes = 0;
  #keepAlive = true;
  /** How long the peer says it keeps an idle connection (its Keep-Alive timeout, less a second's margin). */
  #peerIdleMs: number | undefined;
  /** The exchange is a HEAD request, whose answer has no body whatever its headers say. */
  #headOnly = false;
  #exchange: Exchange | undefined;

  constructor(socket: Socket, client: Http1Client) {
    this.socket = socket;
    this.#client = client;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', () => {});
    socket.on('timeout', () => {
      if (this.#state === 'idle') socket.destroy();
    });
    socket.once('close', (hadError: boolean) => this.#closed(hadError));
  }

  send(head: string, body: Http1Request['body'], signal: AbortSignal, headOnly: boolean, keepBody: boolean): Promise<Http1Response> {
    this.#headOnly = headOnly;
    return new Promise<Http1Response>((resolve, reject) => {
      const exchange = new Exchange(this, signal, resolve, reject);
      this.#exchange = exchange;
      this.#state = 'head';
      this.#keepAlive = true;
      if (body instanceof Readable) {
        // The head waits for the body's first bytes, to go out with them in one write.
        this.socket.cork();
        this.socket.write(head, 'latin1');
        exchange.streamBody(body, head.endsWith(CHUNKED_HEAD_END), keepBody);
      } else {
        const bytes = body === undefined ? EMPTY : typeof body === 'string' ? Buffer.from(body) : body;
        if (bytes.byteLength <= ONE_WRITE_BYTES) {
          const headLength = Buffer.byteLength(head, 'latin1');
          const out = Buffer.allocUnsafe(headLength + bytes.byteLength);
          out.write(head, 0, 'latin1');
          out.set(bytes, headLength);
          this.socket.write(out);
        } else {
          this.socket.cork();
          this.socket.write(head, 'latin1');
          this.socket.write(bytes);
          this.socket.uncork();
        }
        exchange.requestDone = true;
      }
    });
  }

  destroy(error?: Error): void {
    this.#exchange?.fail(error ?? new Error('the channel connection closed'));
    this.socket.destroy();
  }

  /** The exchange is over: the connection carries the next one if both sides finished cleanly, else it closes. */
  finished(exchange: Exchange): void {
    if (this.#exchange !== exchange) return;
    this.#exchange = undefined;
    if (this.#state === 'idle' && this.#keepAlive && exchange.requestDone && !this.socket.destroyed) {
      // An answer's reader may have paused the socket before its last bytes; idle, it reads again (stray bytes close it).
      this.socket.resume();
      this.#client.released(this, this.#peerIdleMs);
    } else this.socket.destroy();
  }

  #closed(hadError: boolean): void {
    this.#client.gone(this);
    const exchange = this.#exchange;
    if (!exchange) return;
    // A body that ends with its connection is whole only if the connection ended cleanly, not reset.
    if (this.#state === 'until-close' && !hadError) {
      this.#state = 'idle';
      exchange.complete();
      return;
    }
    exchange.fail(new Error(`${this.#client.peer} closed the connection before its answer was complete`));
  }

  #protocolError(message: string): void {
    this.destroy(new HttpProtocolError(`${this.#client.peer} answered outside HTTP/1.1: ${message}`));
  }

  #read(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0) {
      const exchange = this.#exchange;
      if (!exchange || this.#state === 'idle') {
        this.#protocolError('bytes arrived that no request asked for');
        return;
      }
      switch (this.#state) {
        case 'head': {
          const rest = this.#readHead(data, exchange);
          if (rest === undefined) return;
          data = rest;
          break;
        }
        case 'fixed': {
          data = this.#deliverCounted(data, exchange);
          if (this.#remaining > 0) return;
          this.#complete(exchange, data);
          return;
        }
        case 'until-close':
          exchange.deliver(data);
          return;
        case 'chunk-size': {
          const line = this.#line(data);
          if (line === undefined) return;
          data = line.rest;
          const size = chunkSize(line.text);
          if (size === undefined) {
            this.#protocolError(`a chunk size of "${line.text.slice(0, 40)}"`);
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
          data = this.#deliverCounted(data, exchange);
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
            this.#protocolError('a chunk not followed by CRLF');
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
            this.#protocolError(`trailers longer than ${MAX_HEAD_BYTES} bytes`);
            return;
          }
          if (line.text === '') {
            this.#complete(exchange, data);
            return;
          }
          break;
        }
      }
    }
  }

  /** Delivers up to the bytes still expected (of a length, or of a chunk); returns what follows them. */
  #deliverCounted(data: Buffer, exchange: Exchange): Buffer {
    const take = Math.min(this.#remaining, data.length);
    this.#remaining -= take;
    exchange.deliver(take === data.length ? data : data.subarray(0, take));
    return data.subarray(take);
  }

  /** Reads up to the end of the head; the bytes after it, or undefined when it is not all here (or was refused). */
  #readHead(data: Buffer, exchange: Exchange): Buffer | undefined {
    const found = this.#seek(data, HEAD_END, MAX_HEAD_BYTES, 'a head');
    if (!found) return undefined;
    const { bytes, end } = found;
    const head = parseHead(bytes.toString('latin1', 0, end));
    if (typeof head === 'string') {
      this.#protocolError(head);
      return undefined;
    }
    const rest = bytes.subarray(end + 4);
    // An interim answer (100 Continue) is followed by the real one.
    if (head.status < 200) {
      if (head.status === 101) this.#protocolError('a switch of protocols nobody asked for');
      return head.status === 101 ? undefined : rest;
    }
    if (!head.keepAlive) this.#keepAlive = false;
    this.#peerIdleMs = head.idleMs;
    const framing = head.framing;
    const bodiless = head.status === 204 || head.status === 304 || this.#headOnly;
    if (bodiless || framing === 0 || (typeof framing === 'number' && rest.length >= framing)) {
      const body = bodiless ? EMPTY : rest.subarray(0, framing as number);
      exchange.startWhole(head.status, head.headers, body);
      this.#complete(exchange, rest.subarray(body.length));
      return undefined;
    }
    if (framing === 'chunked') this.#state = 'chunk-size';
    else if (framing === 'close') {
      this.#state = 'until-close';
      this.#keepAlive = false;
    } else {
      this.#state = 'fixed';
      this.#remaining = framing;
    }
    exchange.start(head.status, head.headers);
    return rest;
  }

  /** A CRLF-ended line at the start of `data` (with what was pending), or undefined until its end arrives. */
  #line(data: Buffer): { text: string; rest: Buffer } | undefined {
    const found = this.#seek(data, CRLF, MAX_LINE_BYTES, 'a line');
    if (!found) return undefined;
    const { bytes, end } = found;
    return { text: bytes.toString('latin1', 0, end), rest: bytes.subarray(end + CRLF.length) };
  }

  /**
   * Looks for `end` in what is pending and `data`, each byte looked at once however the peer splits its bytes (a
   * head trickled a byte at a time costs no more than one sent whole): the bytes joined and where `end` starts; or
   * undefined while it has not arrived (`data` is kept), or once more than `max` bytes of `what` came without it
   * (which closes the connection).
   */
  #seek(data: Buffer, end: Buffer, max: number, what: string): { bytes: Buffer; end: number } | undefined {
    const probe = this.#tail.length > 0 ? Buffer.concat([this.#tail, data]) : data;
    const at = probe.indexOf(end);
    const found = at < 0 ? -1 : this.#pendingLength - this.#tail.length + at;
    if (found > max || (found < 0 && this.#pendingLength + data.length > max)) {
      this.#protocolError(`${what} longer than ${max} bytes`);
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

  #complete(exchange: Exchange, rest: Buffer): void {
    this.#state = 'idle';
    if (rest.length > 0) {
      this.#protocolError('bytes after the end of an answer');
      return;
    }
    exchange.complete();
  }
}

/** One request and its answer on a connection. */
class Exchange {
  requestDone = false;
  readonly #connection: Connection;
  readonly #signal: AbortSignal;
  readonly #resolve: (response: Http1Response) => void;
  readonly #reject: (error: Error) => void;
  #body: Readable | undefined;
  /** Stops reading a streamed request body that is not over. */
  #stopBody: (() => void) | undefined;
  #over = false;
  #answered = false;
  readonly #onAbort = (): void => {
    const error = abortError(this.#signal);
    this.fail(error);
    this.#connection.socket.destroy();
  };

  constructor(connection: Connection, signal: AbortSignal, resolve: (response: Http1Response) => void, reject: (error: Error) => void) {
    this.#connection = connection;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * Sends a body as it arrives (`chunked`, or as it is), as fast as the connection takes it; its failure, or its
   * closing before its end, fails the call. An exchange over before the body is (an early answer) stops reading it:
   * destroyed, or (`keep`) paused and left to its owner, when it is another connection's request that must live on.
   */
  streamBody(body: Readable, chunked: boolean, keep: boolean): void {
    const socket = this.#connection.socket;
    // The head (corked in send) goes out with the first bytes of the body, or on its own once the bytes already
    // here have been read: a body that stays quiet must not hold back its head.
    let corked = true;
    const uncork = (): void => {
      if (!corked) return;
      corked = false;
      socket.uncork();
    };
    setImmediate(uncork);
    const onDrain = (): void => {
      body.resume();
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      // A chunk of no bytes would end the body.
      if (bytes.length === 0) return;
      let flowing: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${bytes.length.toString(16)}\r\n`, 'latin1');
        socket.write(bytes);
        flowing = socket.write(CRLF);
        socket.uncork();
      } else flowing = socket.write(bytes);
      uncork();
      if (!flowing) body.pause();
    };
    const onEnd = (): void => {
      detach();
      if (chunked) socket.write(LAST_CHUNK, 'latin1');
      this.requestDone = true;
    };
    const onError = (error: Error): void => {
      detach();
      this.fail(error);
      socket.destroy();
    };
    const onClose = (): void => onError(new Error('the request body closed before its end'));
    const detach = (): void => {
      socket.off('drain', onDrain);
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      // Its errors from now on are its owner's; unheard, they must not throw.
      body.on('error', ignore);
      uncork();
    };
    this.#stopBody = () => {
      detach();
      if (keep) body.pause();
      else body.destroy();
    };
    socket.on('drain', onDrain);
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
  }

  start(status: number, headers: Http1Headers): void {
    if (this.#over) return;
    const connection = this.#connection;
    const body = new Readable({
      read: () => {
        connection.socket.resume();
      },
      destroy: (error, callback) => {
        // An answer its reader leaves before its end: its connection closes, which cancels the call in the sandbox.
        if (!this.#over) {
          this.#end();
          connection.socket.destroy();
        }
        // Failed before anyone reads it (the same tick it was made, say), its error and close wait a turn, so that
        // a reader about to listen hears them instead of missing them.
        if (body.readableFlowing === true || body.listenerCount('readable') > 0) callback(error);
        else setImmediate(callback, error);
      },
    });
    this.#body = body;
    this.#answered = true;
    this.#resolve({ statusCode: status, headers, body, whole: undefined });
  }

  /** An answer that arrived whole with its head. */
  startWhole(status: number, headers: Http1Headers, whole: Buffer): void {
    if (this.#over) return;
    this.#answered = true;
    this.#resolve(new WholeResponse(status, headers, whole));
  }

  deliver(bytes: Buffer): void {
    if (this.#body && !this.#body.push(bytes)) this.#connection.socket.pause();
  }

  complete(): void {
    if (this.#over) return;
    this.#body?.push(null);
    this.#end();
    this.#connection.finished(this);
  }

  fail(error: Error): void {
    if (this.#over) return;
    this.#end();
    if (!this.#answered) this.#reject(error);
    // A failed answer nobody listens to yet must not take the node down with its error.
    else this.#body?.on('error', ignore).destroy(error);
    this.#connection.finished(this);
  }

  /** The exchange is over for this side: no abort to hear, and a request body still arriving is no longer read. */
  #end(): void {
    this.#over = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
    if (!this.requestDone) this.#stopBody?.();
  }
}

class WholeResponse implements Http1Response {
  readonly statusCode: number;
  readonly headers: Http1Headers;
  readonly whole: Buffer;
  #body: Readable | undefined;

  constructor(statusCode: number, headers: Http1Headers, whole: Buffer) {
    this.statusCode = statusCode;
    this.headers = headers;
    this.whole = whole;
  }

  get body(): Readable {
    if (!this.#body) {
      this.#body = new Readable({ read() {} });
      if (this.whole.length > 0) this.#body.push(this.whole);
      this.#body.push(null);
    }
    return this.#body;
  }
}

function ignore(): void {}

export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('the call was aborted');
}

/** A connector for a TCP address or a Unix socket path. */
export function netConnector(options: NetConnectOpts): Connector {
  return (signal) =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect(options);
      const onAbort = (): void => {
        socket.destroy();
        reject(abortError(signal));
      };
      const onError = (error: Error): void => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        socket.removeListener('error', onError);
        resolve(socket);
      });
    });
}
