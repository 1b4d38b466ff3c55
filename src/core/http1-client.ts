import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { EMPTY, Http1Reader } from './http1-reader.ts';
import { CHUNKED_HEAD_END, parseHead, requestHead, type Http1Headers, type Http1Request } from './http1-wire.ts';

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

/** A request body up to this size goes out with its head as one buffer, in one write. */
const ONE_WRITE_BYTES = 16 * 1024;
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

/** One connection to the peer, carrying one exchange at a time. */
class Connection extends Http1Reader {
  readonly socket: Socket;
  readonly #client: Http1Client;
  #keepAlive = true;
  /** How long the peer says it keeps an idle connection (its Keep-Alive timeout, less a second's margin). */
  #peerIdleMs: number | undefined;
  /** The exchange is a HEAD request, whose answer has no body whatever its headers say. */
  #headOnly = false;
  #exchange: Exchange | undefined;

  constructor(socket: Socket, client: Http1Client) {
    super();
    this.socket = socket;
    this.#client = client;
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => {});
    socket.on('timeout', () => {
      if (this.idle) socket.destroy();
    });
    socket.once('close', (hadError: boolean) => this.#closed(hadError));
  }

  send(head: string, body: Http1Request['body'], signal: AbortSignal, headOnly: boolean, keepBody: boolean): Promise<Http1Response> {
    this.#headOnly = headOnly;
    return new Promise<Http1Response>((resolve, reject) => {
      const exchange = new Exchange(this, signal, resolve, reject);
      this.#exchange = exchange;
      this.expectHead();
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
    if (this.idle && this.#keepAlive && exchange.requestDone && !this.socket.destroyed) {
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
    if (this.untilClose && !hadError) {
      this.stop();
      exchange.complete();
      return;
    }
    exchange.fail(new Error(`${this.#client.peer} closed the connection before its answer was complete`));
  }

  protected override get expecting(): boolean {
    return this.#exchange !== undefined;
  }

  protected override protocolError(message: string): void {
    this.destroy(new HttpProtocolError(`${this.#client.peer} answered outside HTTP/1.1: ${message}`));
  }

  protected override body(bytes: Buffer): void {
    this.#exchange?.deliver(bytes);
  }

  protected override ended(): void {
    this.#exchange?.complete();
  }

  /** An answer's head: the bytes after it, or undefined when the answer is handled already (or was refused). */
  protected override head(text: string, rest: Buffer): Buffer | undefined {
    const exchange = this.#exchange as Exchange;
    const head = parseHead(text);
    if (typeof head === 'string') {
      this.protocolError(head);
      return undefined;
    }
    // An interim answer (100 Continue) is followed by the real one.
    if (head.status < 200) {
      if (head.status === 101) this.protocolError('a switch of protocols nobody asked for');
      return head.status === 101 ? undefined : rest;
    }
    if (!head.keepAlive) this.#keepAlive = false;
    this.#peerIdleMs = head.idleMs;
    const framing = head.framing;
    const bodiless = head.status === 204 || head.status === 304 || this.#headOnly;
    if (bodiless || framing === 0 || (typeof framing === 'number' && rest.length >= framing)) {
      const body = bodiless ? EMPTY : rest.subarray(0, framing as number);
      exchange.startWhole(head.status, head.headers, body);
      this.complete(rest.subarray(body.length));
      return undefined;
    }
    if (framing === 'close') this.#keepAlive = false;
    this.expectBody(framing);
    exchange.start(head.status, head.headers);
    return rest;
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
        flowing = socket.write('\r\n', 'latin1');
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
export function netConnector(options: NetConnectOpts, connectTimeoutMs?: number): Connector {
  return (signal) =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect(options);
      // A peer that is frozen, or an address that drops packets, would otherwise hold the connect for minutes.
      const timer =
        connectTimeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              socket.destroy();
              onError(new Error(`no connection within ${connectTimeoutMs} ms`));
            }, connectTimeoutMs);
      const onAbort = (): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(abortError(signal));
      };
      const onError = (error: Error): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.removeListener('error', onError);
        resolve(socket);
      });
    });
}
