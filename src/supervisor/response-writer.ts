import type { Http1ServerRequest, Http1ServerResponse } from '../core/http1-server.ts';
import { httpStatusForRpcError, readClientMessage, type JsonRpcId, type JsonRpcMessage, type JsonRpcResponse } from '../mcp/jsonrpc.ts';
import { SSE_HEADERS, sseEvent } from '../mcp/sse.ts';
import { BerthError, isBerthError, jsonRpcErrorBody, type ErrorCode } from '../core/errors.ts';
import { replyError } from './reply.ts';

/** A channel request body is one JSON-RPC message the edge already bounded; this is a second fence. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The answer to one channel request: plain JSON when the result comes alone, an SSE stream as soon as a related
 * notification must go out first (the Streamable HTTP "auto" mode). Writes after the answer ended are dropped.
 */
export class ResponseWriter {
  readonly #res: Http1ServerResponse;
  readonly #acceptsSse: boolean;
  #sse = false;

  constructor(req: Http1ServerRequest, res: Http1ServerResponse) {
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
    const json = this.#serialize(message);
    if (json === undefined) return;
    this.startStream();
    this.#res.write(sseEvent(json));
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
    const body = this.#serialize(message);
    if (body === undefined) return;
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

  /**
   * berth's refusal of request `id`: its own error (as `fail`) while nothing is written yet, or the request's
   * JSON-RPC error ending a stream already under way, which the client reads as the answer to its request.
   */
  refuse(id: JsonRpcId, code: ErrorCode, message: string): void {
    if (!this.#sse) {
      this.fail(code, message);
      return;
    }
    this.finish(jsonRpcErrorBody(new BerthError(code, message), id));
  }

  /**
   * A message as JSON, or undefined once the request has failed because it cannot be written: what a server sends
   * is bounded before it gets here, and this keeps an unforeseen message from costing more than this request.
   */
  #serialize(message: JsonRpcMessage): string | undefined {
    try {
      return JSON.stringify(message);
    } catch (error) {
      this.fail('sandbox_failed', `berth could not relay the server's message: ${(error as Error).message}`);
      return undefined;
    }
  }
}

/** Where the supervisor writes a line for the session's log (the sandbox's stderr, which berth keeps). */
export type SupervisorLog = (line: string) => void;

/**
 * Serves one channel request carrying a client's message: reads and parses it, then hands it to `handle`. Whatever
 * goes wrong while `handle` runs costs this message alone: the request is answered with an error, the fault goes to
 * the session's log, and the supervisor, with every other call and the session's state, goes on.
 */
export function serveClientMessage(
  req: Http1ServerRequest,
  res: Http1ServerResponse,
  log: SupervisorLog,
  handle: (writer: ResponseWriter, message: JsonRpcMessage) => void,
): void {
  const writer = new ResponseWriter(req, res);
  readBody(req)
    .then(
      (body) => {
        const message = parseClientMessage(writer, body);
        if (message) handle(writer, message);
      },
      () => writer.fail('body_too_large', 'request body is over the supervisor limit'),
    )
    .catch((error: unknown) => {
      const why = error instanceof Error ? error.message : String(error);
      log(`berth: the supervisor failed while handling a client's message, which was refused: ${error instanceof Error ? (error.stack ?? why) : why}`);
      writer.fail('sandbox_failed', `berth's supervisor could not handle this request (${why}); the session and its other calls go on`);
    });
}

export async function readBody(req: Http1ServerRequest): Promise<string> {
  return (await req.bytes(MAX_BODY_BYTES)).toString('utf8');
}

/** The client's JSON-RPC message from a request body, or undefined once `writer` has answered why it is not one. */
export function parseClientMessage(writer: ResponseWriter, body: string): JsonRpcMessage | undefined {
  // The edge refuses such a message first; this fence keeps the supervisor whole whatever reaches it.
  try {
    return readClientMessage(body);
  } catch (error) {
    if (!isBerthError(error)) throw error;
    writer.fail(error.code, error.message);
    return undefined;
  }
}
