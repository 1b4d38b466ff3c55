import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { NodeAnswer, UpgradeAnswer, type Answer, type AnswerHeaders } from '../core/answer.ts';
import { BerthError } from '../core/errors.ts';
import { errorResponse } from '../core/http.ts';
import type { Inbound } from '../core/inbound.ts';
import { guardConnections } from './connection-guard.ts';
import { PLAIN_HOST } from './host-check.ts';
import { NodeInbound } from './node-inbound.ts';
import { serveUpgrade } from './node-upgrade.ts';

/** What the adapter hands each request to: the edge (app.ts), or a test's handler. */
export type InboundHandler = (inbound: Inbound) => Promise<Answer>;

/** What one client may take of the node's listener: time to send a request, and a share of its connections. */
export interface ConnectionLimits {
  headersTimeoutMs: number;
  /** A request body that sends nothing for this long is answered 408 and its connection closed. */
  bodyTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

export interface NodeServerOptions {
  limits?: ConnectionLimits;
  /** Hears every connection turned away because the node holds its maximum. */
  onShed?: (reason: 'connections') => void;
}

const DEFAULT_LIMITS: ConnectionLimits = { headersTimeoutMs: 10_000, bodyTimeoutMs: 60_000, requestTimeoutMs: 600_000, maxConnections: 10_000 };

/**
 * Methods berth's handlers may see. Others never become a `Request` (fetch forbids TRACE, TRACK and CONNECT, and
 * constructing one throws): they are answered 405 here.
 */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The thin adapter from `node:http` to berth's edge. Each request goes in as an Inbound (core/inbound.ts) whose
 * signal aborts when the client goes away before its answer is complete, and which becomes a web-standard Request
 * only for a handler that asks; answers go out as they are, a whole one with its head in one write, a streamed
 * one chunk by chunk as it arrives, never collected.
 * It bounds what a client can hold: headers and whole requests must arrive in time, a body that stalls is closed,
 * and past the connection cap a new connection is answered 503 and closed before any handler runs.
 */
export function createNodeServer(handler: InboundHandler, onError: (error: unknown) => void, options: NodeServerOptions = {}): Server {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      keepAliveTimeout: 65_000,
      // Node checks the two timeouts above on this period; its default (30 s) would let a stalled client stay that much longer.
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
      // berth refuses an HTTP/1.1 request without Host itself (serve): node:http's refusal closes the connection at
      // once, and a client still sending its body is reset before it reads the answer.
      requireHostHeader: false,
    },
    (req, res) => {
      guard.answering(req.socket, res);
      // Near the cap, answers close their connections: idle keep-alive connections would otherwise hold the places
      // that new clients need (closing idle ones under a client that is about to reuse them would fail its request).
      if (guard.nearCap()) res.shouldKeepAlive = false;
      void serve(handler, req, res, limits).catch((error: unknown) => {
        onError(error);
        if (!res.headersSent)
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal","message":"berth hit an internal error"}}');
        else res.destroy();
      });
    },
  );
  const guard = guardConnections(server, limits.maxConnections, () => options.onShed?.('connections'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    serveUpgrade(handler, req, socket, head).catch((error: unknown) => {
      onError(error);
      socket.destroy();
    });
  });
  return server;
}

async function serve(handler: InboundHandler, req: IncomingMessage, res: ServerResponse, limits: ConnectionLimits): Promise<void> {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) {
    plainError(res, 400, { connection: 'close' }, 'invalid_request', 'request target must be a path starting with "/"');
    return;
  }
  const method = req.method ?? 'GET';
  if (!METHODS.has(method)) {
    plainError(res, 405, { allow: [...METHODS].join(', ') }, 'method_not_allowed', `berth does not answer ${method}; use one of ${[...METHODS].join(', ')}`);
    return;
  }
  // HTTP/1.1 requires a Host (RFC 9112 section 3.2); refused here, the answer goes out as every early answer does below.
  const hostless = req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined;
  // A Host that is not plain is replaced when building the URL (routing uses only the path; the host check refuses it).
  const host = req.headers.host !== undefined && PLAIN_HOST.test(req.headers.host) ? req.headers.host : 'localhost';
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const hasBody = method !== 'GET' && method !== 'HEAD';
  // A small body usually arrives with its head, and node:http parses it right after this event: watched only if
  // it is still incomplete then.
  if (hasBody && !req.complete)
    process.nextTick(() => {
      if (!req.complete) watchBody(req, res, limits.bodyTimeoutMs, () => controller.abort());
    });
  const inbound = new NodeInbound(req, method, new URL(`http://${host}${target}`), controller.signal, hasBody);

  const answer = hostless
    ? errorResponse(new BerthError('invalid_request', 'an HTTP/1.1 request must carry a Host header naming the host it is for'))
    : await handler(inbound);
  if (answer instanceof UpgradeAnswer) {
    // Only a request that asked for an upgrade, through node:http's upgrade event, can be given one.
    answer.abandon();
    throw new Error('a handler agreed to an upgrade the request did not ask for');
  }
  const { status, headers, body } = answer instanceof NodeAnswer ? answer : fromResponse(answer);
  // The client is gone, or a stalled body was already answered 408: the answer has nowhere to go.
  if (res.headersSent || res.destroyed) {
    if (body && !Buffer.isBuffer(body)) body.destroy();
    return;
  }
  // The handler answered without reading the whole body (an early error). The rest is read and thrown away once
  // the answer is out, so that a client still sending sees the answer rather than a reset, and the connection can
  // carry its next request; a client that sends too much or too slowly loses the connection.
  if (hasBody && !req.complete) {
    // A client that asked to close (or speaks HTTP/1.0) would have its connection closed by node:http as soon as
    // the answer is out, with its unread body still arriving: the kernel then resets the connection, and the client
    // may lose the answer it has not read yet. The connection closes once the rest is read instead.
    const closeAfter = !res.shouldKeepAlive;
    res.shouldKeepAlive = true;
    res.once('finish', () => discardRest(req, closeAfter));
  }
  res.writeHead(status, headers);
  if (body === null || method === 'HEAD') {
    if (body && !Buffer.isBuffer(body)) body.destroy();
    res.end();
    return;
  }
  if (Buffer.isBuffer(body)) {
    // node:http sends the head and a body given to `end` in one write.
    res.end(body);
    return;
  }
  // SSE frames go out as they come; Nagle's algorithm would otherwise hold small writes back.
  res.socket?.setNoDelay(true);
  // node:http sends the head with the first chunk of the body. An event stream may stay quiet for long (a legacy
  // client's GET stream until the first change): its client must see the status and headers at once, not then.
  if (String(headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
  body.on('error', () => res.destroy());
  res.once('close', () => body.destroy());
  body.pipe(res);
}

/** A web-standard Response as the adapter writes it. */
function fromResponse(response: Response): { status: number; headers: AnswerHeaders; body: Readable | null } {
  const headers: AnswerHeaders = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body = response.body ? Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>) : null;
  return { status: response.status, headers, body };
}

/** How much of an unread request body is read and thrown away after an early answer, and for how long at most. */
const DISCARD_BYTES = 64 * 1024 * 1024;
const DISCARD_MS = 5000;

/**
 * A body that sends nothing for `timeoutMs` is the client's stall, not berth's: answered 408 (or, once an answer
 * has started, cut) and its connection closed. Time berth itself spends not reading (a server slow to take its
 * input) does not count: the socket's timer runs only while nothing waits in the request's buffer.
 */
function watchBody(req: IncomingMessage, res: ServerResponse, timeoutMs: number, abort: () => void): void {
  const onTimeout = (): void => {
    if (req.complete) return;
    if (req.readableLength > 0) {
      req.setTimeout(timeoutMs);
      return;
    }
    abort();
    if (res.headersSent) {
      req.destroy();
      return;
    }
    plainError(
      res,
      408,
      { connection: 'close' },
      'request_timeout',
      `the request body sent nothing for ${timeoutMs} ms (BERTH_BODY_TIMEOUT_MS); the connection is closed`,
    );
    res.once('finish', () => req.socket.destroy());
  };
  req.setTimeout(timeoutMs, onTimeout);
  // A complete body lifts the watch: answers may then take as long as they need. node:http tells a request of its
  // timeout only while its body is incomplete, and the answer always; a body that arrived whole but is not yet read
  // is lifted there. Once the answer is out, node:http has set the socket's keep-alive timeout instead, which stays.
  const lift = (): void => {
    if (!res.writableFinished) req.setTimeout(0);
  };
  req.once('end', lift);
  res.on('timeout', () => {
    if (req.complete) lift();
  });
}

/** An error the adapter answers itself, in the REST wire shape, before or instead of any handler. */
function plainError(res: ServerResponse, status: number, headers: Record<string, string>, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { code, message } }));
}

function discardRest(req: IncomingMessage, closeAfter: boolean): void {
  if (closeAfter) {
    if (req.readableEnded) req.socket.end();
    else req.once('end', () => req.socket.end());
  }
  if (req.complete || req.destroyed) return;
  let read = 0;
  const timer = setTimeout(() => req.destroy(), DISCARD_MS);
  req.once('close', () => clearTimeout(timer));
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > DISCARD_BYTES) req.destroy();
  });
  req.once('end', () => clearTimeout(timer));
  req.on('error', () => {});
  req.resume();
}
