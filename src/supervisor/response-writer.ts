import type { IncomingMessage, ServerResponse } from 'node:http';
import { asJsonRpcMessage, httpStatusForRpcError, type JsonRpcMessage, type JsonRpcResponse } from '../mcp/jsonrpc.ts';
import { SSE_HEADERS, sseEvent } from '../mcp/sse.ts';
import type { ErrorCode } from '../core/errors.ts';
import { replyError } from './reply.ts';

/** A channel request body is one JSON-RPC message the edge already bounded; this is a second fence. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The answer to one channel request: plain JSON when the result comes alone, an SSE stream as soon as a related
 * notification must go out first (the Streamable HTTP "auto" mode). Writes after the answer ended are dropped.
 */
export class ResponseWriter {
  readonly #res: ServerResponse;
  readonly #acceptsSse: boolean;
  #sse = false;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.#res = res;
    this.#acceptsSse = String(req.headers.accept ?? '').includes('text/event-stream');
  }

  get done(): boolean {
    return this.#res.writableEnded || this.#res.destroyed;
  }

  /** Runs `listener` once the answer is over, complete or not. */
  onDone(listener: () => void): void {
    this.#res.once('close', listener);
  }

  /** Runs `listener` if the client goes away before the answer is complete. */
  onAbandoned(listener: () => void): void {
    this.#res.on('close', () => {
      if (!this.#res.writableFinished) listener();
    });
  }

  /** A notification related to this request; the first one turns the answer into an SSE stream. */
  notify(message: JsonRpcMessage): void {
    if (this.done || !this.#acceptsSse) return;
    this.startStream();
    this.#res.write(sseEvent(JSON.stringify(message)));
  }

  /** Opens the SSE stream now (a listen stream answers at once, before any notification). */
  startStream(): void {
    if (this.#sse || this.done) return;
    this.#sse = true;
    this.#res.writeHead(200, SSE_HEADERS);
    this.#res.flushHeaders();
  }

  /** An SSE comment that keeps idle intermediaries from closing a long stream. */
  keepAlive(): void {
    if (this.#sse && !this.done) this.#res.write(':\n\n');
  }

  finish(message: JsonRpcResponse): void {
    if (this.done) return;
    const body = JSON.stringify(message);
    if (this.#sse) {
      this.#res.end(sseEvent(body));
      return;
    }
    const status = message.error ? httpStatusForRpcError(message.error.code) : 200;
    this.#res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    this.#res.end(body);
  }

  /** An answer with no body, such as 202 for a notification. */
  finishEmpty(status: number): void {
    if (!this.done) this.#res.writeHead(status).end();
  }

  /** Ends a stream without a result (a listen stream the server closed). */
  end(): void {
    if (!this.done) this.#res.end();
  }

  /** berth's own error for this request (the edge renders it as the client's JSON-RPC error). */
  fail(code: ErrorCode, message: string): void {
    replyError(this.#res, code, message);
  }
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        reject(new Error('too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The client's JSON-RPC message from a request body, or undefined once `writer` has answered why it is not one. */
export function parseClientMessage(writer: ResponseWriter, body: string): JsonRpcMessage | undefined {
  let message: JsonRpcMessage | undefined;
  try {
    message = asJsonRpcMessage(JSON.parse(body));
  } catch {
    writer.fail('parse_error', 'request body is not valid JSON');
    return undefined;
  }
  if (!message) writer.fail('invalid_request', 'request body is not a JSON-RPC 2.0 message');
  return message;
}
