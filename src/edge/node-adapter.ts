import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { lazyWebStream, nodeResponseBody, withNodeRequestBody } from './node-bodies.ts';

export type FetchHandler = (request: Request) => Promise<Response>;

/**
 * The thin adapter from `node:http` to berth's web-standard handler. The request's `signal` aborts when the client
 * goes away before its answer is complete; answer bodies are written chunk by chunk as they arrive, never collected.
 */
export function createNodeServer(handler: FetchHandler, onError: (error: unknown) => void): Server {
  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => {
    void serve(handler, req, res).catch((error: unknown) => {
      onError(error);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal","message":"berth hit an internal error"}}');
      else res.destroy();
    });
  });
  server.headersTimeout = 30_000;
  return server;
}

/** A Host header that is safe to build the request URL from; anything else is replaced (routing uses only the path). */
import { PLAIN_HOST } from './host-check.ts';

async function serve(handler: FetchHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) {
    res.writeHead(400, { 'content-type': 'application/json', connection: 'close' });
    res.end('{"error":{"code":"invalid_request","message":"request target must be a path starting with \\"/\\""}}');
    return;
  }
  const host = req.headers.host !== undefined && PLAIN_HOST.test(req.headers.host) ? req.headers.host : 'localhost';
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const method = req.method ?? 'GET';
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const init = { method, headers, body: hasBody ? lazyWebStream(req, true) : null, duplex: 'half', signal: controller.signal };
  const request = new Request(`http://${host}${target}`, init as RequestInit);
  if (hasBody) withNodeRequestBody(request, req);

  const response = await handler(request);
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name === 'set-cookie') return;
    out[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies;
  // The handler answered without reading the whole body (an early error). The rest is read and thrown away once
  // the answer is out, so that a client still sending sees the answer rather than a reset, and the connection can
  // carry its next request; a client that sends too much or too slowly loses the connection.
  if (hasBody && !req.complete) res.once('finish', () => discardRest(req));
  res.writeHead(response.status, out);
  if (!response.body || method === 'HEAD') {
    res.end();
    return;
  }
  const body = nodeResponseBody(response) ?? Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>);
  // SSE frames go out as they come; Nagle's algorithm would otherwise hold small writes back.
  res.socket?.setNoDelay(true);
  body.on('error', () => res.destroy());
  res.once('close', () => body.destroy());
  body.pipe(res);
}

/** How much of an unread request body is read and thrown away after an early answer, and for how long at most. */
const DISCARD_BYTES = 64 * 1024 * 1024;
const DISCARD_MS = 5000;

function discardRest(req: IncomingMessage): void {
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
