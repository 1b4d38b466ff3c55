import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import {
  asJsonRpcMessage,
  httpStatusForRpcError,
  isNotification,
  isRequest,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../mcp/jsonrpc.ts';
import { SSE_HEADERS, sseEvent } from '../mcp/sse.ts';
import { replyError } from './reply.ts';
import { crashMessage, type ServerExit } from './server-process.ts';

const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
/** A channel request body is one JSON-RPC message the edge already bounded; this is a second fence. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** One client request in flight to the server: where its notifications and answer go. */
class PendingCall {
  #sse = false;
  readonly clientId: JsonRpcId;
  readonly clientToken: string | number | undefined;
  readonly wantsLogs: boolean;
  readonly #res: ServerResponse;
  readonly #acceptsSse: boolean;

  constructor(res: ServerResponse, request: JsonRpcRequest, acceptsSse: boolean) {
    this.#res = res;
    this.#acceptsSse = acceptsSse;
    this.clientId = request.id;
    const meta = request.params?._meta as Record<string, unknown> | undefined;
    const token = meta?.progressToken;
    this.clientToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;
    this.wantsLogs = typeof meta?.[LOG_LEVEL] === 'string';
  }

  get done(): boolean {
    return this.#res.writableEnded || this.#res.destroyed;
  }

  /** A notification related to this call; the first one turns the answer into an SSE stream. */
  notify(message: JsonRpcMessage): void {
    if (this.done || !this.#acceptsSse) return;
    if (!this.#sse) {
      this.#sse = true;
      this.#res.writeHead(200, SSE_HEADERS);
    }
    this.#res.write(sseEvent(JSON.stringify(message)));
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

  /** The server ended a listen stream without a result. */
  end(): void {
    if (!this.done) this.#res.end();
  }

  fail(message: string): void {
    replyError(this.#res, 'server_crashed', message);
  }
}

/**
 * Serves channel requests from a server that speaks MCP over stdin/stdout. The supervisor is the server's only
 * JSON-RPC peer, so it rewrites request ids, progress tokens and subscription ids to keep concurrent clients apart,
 * and maps them back on the way out. A client that goes away gets `notifications/cancelled` sent on its behalf.
 */
export class StdioUpstream {
  readonly #stdin: Writable;
  readonly #calls = new Map<number, PendingCall>();
  readonly #byToken = new Map<string, { call: PendingCall; id: number }>();
  readonly #onOutput: (line: string) => void;
  readonly #runtime: string;
  #nextId = 1;
  #exit: ServerExit | undefined;

  constructor(runtime: string, stdin: Writable, stdout: Readable, exited: Promise<ServerExit>, onOutput: (line: string) => void) {
    this.#runtime = runtime;
    this.#stdin = stdin;
    this.#onOutput = onOutput;
    stdin.on('error', () => {});
    stdout.on('error', () => {});
    createInterface({ input: stdout, crlfDelay: Infinity }).on('line', (line) => this.#fromServer(line));
    void exited.then((exit) => {
      this.#exit = exit;
      for (const call of this.#calls.values()) call.fail(crashMessage(runtime, exit));
      this.#calls.clear();
      this.#byToken.clear();
    });
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    void readBody(req).then(
      (body) => this.#fromClient(req, res, body),
      () => replyError(res, 'body_too_large', 'request body is over the supervisor limit'),
    );
  };

  #fromClient(req: IncomingMessage, res: ServerResponse, body: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      replyError(res, 'parse_error', 'request body is not valid JSON');
      return;
    }
    const message = asJsonRpcMessage(parsed);
    if (!message) {
      replyError(res, 'invalid_request', 'request body is not a JSON-RPC 2.0 message');
      return;
    }
    if (this.#exit) {
      replyError(res, 'server_crashed', crashMessage(this.#runtime, this.#exit));
      return;
    }
    if (!isRequest(message)) {
      this.#forwardNotification(message);
      res.writeHead(202).end();
      return;
    }
    const id = this.#nextId++;
    const call = new PendingCall(res, message, String(req.headers.accept ?? '').includes('text/event-stream'));
    this.#calls.set(id, call);
    const params = message.params === undefined ? undefined : { ...message.params };
    if (params && call.clientToken !== undefined) {
      const token = `berth-${id}`;
      params._meta = { ...(params._meta as Record<string, unknown>), progressToken: token };
      this.#byToken.set(token, { call, id });
    }
    res.on('close', () => {
      if (this.#calls.get(id) !== call) return;
      this.#forget(id, call);
      this.#send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'the client disconnected' } });
    });
    this.#send(params === undefined ? { ...message, id } : { ...message, id, params });
  }

  /** Client notifications name client request ids; cancellations are translated to the server's ids. */
  #forwardNotification(message: JsonRpcMessage): void {
    if (!isNotification(message)) return;
    if (message.method === 'notifications/cancelled') {
      const clientId = message.params?.requestId;
      for (const [id, call] of this.#calls) {
        if (call.clientId === clientId) {
          this.#forget(id, call);
          this.#send({ ...message, params: { ...message.params, requestId: id } });
        }
      }
      return;
    }
    this.#send(message);
  }

  #fromServer(line: string): void {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.#onOutput(line);
      return;
    }
    const message = asJsonRpcMessage(parsed);
    if (!message) {
      this.#onOutput(line);
      return;
    }
    if (isRequest(message)) {
      // Server-to-client requests need the bridge for this server's revision; until then the server hears a clear no.
      this.#send({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: `berth does not relay ${message.method} to clients of this runtime` } });
      return;
    }
    if (isNotification(message)) {
      this.#routeNotification(message);
      return;
    }
    const id = typeof message.id === 'number' ? message.id : Number.NaN;
    const call = this.#calls.get(id);
    if (!call) return;
    this.#forget(id, call);
    const result = message.result ? restoreSubscriptionId(message.result, id, call.clientId) : undefined;
    call.finish(result ? { ...message, id: call.clientId, result } : { ...message, id: call.clientId });
  }

  #routeNotification(message: JsonRpcMessage & { method: string; params?: Record<string, unknown> }): void {
    const params = message.params ?? {};
    if (message.method === 'notifications/progress') {
      const entry = this.#byToken.get(String(params.progressToken));
      if (entry && entry.call.clientToken !== undefined) {
        entry.call.notify({ ...message, params: { ...params, progressToken: entry.call.clientToken } });
      }
      return;
    }
    const meta = params._meta as Record<string, unknown> | undefined;
    const subscription = meta?.[SUBSCRIPTION_ID];
    if (typeof subscription === 'number') {
      const call = this.#calls.get(subscription);
      if (call) call.notify({ ...message, params: restoreSubscriptionId(params, subscription, call.clientId) });
      return;
    }
    if (message.method === 'notifications/cancelled' && typeof params.requestId === 'number') {
      // The server tears down a listen stream.
      const call = this.#calls.get(params.requestId);
      if (call) {
        this.#forget(params.requestId, call);
        call.end();
      }
      return;
    }
    if (message.method === 'notifications/message') {
      // stdio gives log lines no request id: every call that asked for logs hears them (all are this session's).
      for (const call of this.#calls.values()) if (call.wantsLogs) call.notify(message);
    }
  }

  #forget(id: number, call: PendingCall): void {
    this.#calls.delete(id);
    if (call.clientToken !== undefined) this.#byToken.delete(`berth-${id}`);
  }

  #send(message: JsonRpcMessage): void {
    this.#stdin.write(`${JSON.stringify(message)}\n`);
  }
}

function restoreSubscriptionId(value: Record<string, unknown>, id: number, clientId: JsonRpcId): Record<string, unknown> {
  const meta = value._meta as Record<string, unknown> | undefined;
  if (meta?.[SUBSCRIPTION_ID] !== id) return value;
  return { ...value, _meta: { ...meta, [SUBSCRIPTION_ID]: clientId } };
}

function readBody(req: IncomingMessage): Promise<string> {
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
