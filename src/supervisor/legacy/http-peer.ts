import { authorityOf, Http1Client, netConnector, type Http1Response } from '../../core/http1-client.ts';
import { RPC } from '../../core/rpc-codes.ts';
import { LEGACY_VERSIONS } from '../../mcp/classify.ts';
import { isNotification, isRequest, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { SseParser, type SseEvent } from '../../mcp/sse.ts';
import { IdMap, tooManyPending } from '../id-map.ts';
import type { SupervisorLog } from '../response-writer.ts';
import { MAX_SERVER_MESSAGE_BYTES, parseServerMessage } from '../server-messages.ts';
import type { BridgeSink, LegacyPeer } from './peer.ts';
import { ENDED_EARLY, ResumeCursor, StreamReader } from './sse-resume.ts';

/** One request sent to the server, as the peer follows it until its answer. */
interface Call {
  sink: BridgeSink;
  /** The HTTP request now carrying the call (its POST, or the GET that resumes its stream), as what ends it. */
  req?: Exchange;
  /** Set while the call waits to resume its stream. */
  resumeTimer?: NodeJS.Timeout;
}

const GET_STREAM_RETRY_MS = 1000;
/** How long an idle connection to the server is kept, unless its Keep-Alive says it closes sooner. */
const IDLE_MS = 60_000;

/** Reads an answer nobody needs to its end, so that its connection carries the next request. */
function discard(res: Http1Response): void {
  if (!res.whole) res.body.resume();
}

/** One HTTP request to the server on its way: ending it closes its connection. */
interface Exchange {
  destroy(): void;
}

/**
 * berth's legacy Streamable HTTP client for a server inside the sandbox (2025-03-26 to 2025-11-25): it holds the
 * server's `Mcp-Session-Id` and its GET stream for the sandbox's life. A request the server answers on an SSE
 * stream brings the server's own requests and progress for it on that stream, which is how the bridge knows which
 * call a question belongs to. A server that ends such a stream before answering, having given its events ids
 * (SEP-1699 polling), gets asked for the rest with `GET` + `Last-Event-ID`. When the server forgets the session
 * (404), berth initializes a new one.
 */
export class HttpLegacyPeer implements LegacyPeer {
  readonly #path: string;
  readonly #client: Http1Client;
  /** The Host the server is asked as: its address, as a general client would send. */
  readonly #authority: string;
  readonly #ids = new IdMap<Call>();
  readonly #onServerMessage: (message: JsonRpcMessage) => void;
  readonly #reinitialize: () => Promise<void>;
  /** Resolves with what to tell a client once the server has exited. */
  readonly #serverExited: Promise<string>;
  readonly #log: SupervisorLog;
  #sessionId: string | undefined;
  #version: string = LEGACY_VERSIONS[0];
  #closed = false;
  #getStream: Exchange | undefined;
  #reinitializing: Promise<void> | undefined;

  constructor(options: {
    host: string;
    port: number;
    path: string;
    onServerMessage: (message: JsonRpcMessage) => void;
    reinitialize: () => Promise<void>;
    serverExited: Promise<string>;
    /** Where berth notes a server message it would not relay (the session's log). */
    log: SupervisorLog;
  }) {
    this.#client = new Http1Client(netConnector({ host: options.host, port: options.port }), { idleMs: IDLE_MS, peer: 'the server' });
    this.#authority = authorityOf(options.host, options.port);
    this.#path = options.path;
    this.#onServerMessage = options.onServerMessage;
    this.#reinitialize = options.reinitialize;
    this.#serverExited = options.serverExited;
    this.#log = options.log;
  }

  /** Records the session the server gave at `initialize`, and opens the GET stream for what it sends unasked. */
  established(response: { sessionId: string | undefined; version: string }): void {
    this.#sessionId = response.sessionId;
    this.#version = response.version;
    this.#openGetStream();
  }

  /** `initialize` itself: sent without a session; returns the answer and the session the server created. */
  async initialize(params: Record<string, unknown>, timeoutMs: number): Promise<{ response: JsonRpcResponse; sessionId: string | undefined }> {
    this.#sessionId = undefined;
    this.#getStream?.destroy();
    let sessionId: string | undefined;
    const response = await this.#callWith('initialize', params, timeoutMs, (res) => {
      const header = res.headers['mcp-session-id'];
      if (typeof header === 'string') sessionId = header;
    });
    return { response, sessionId };
  }

  /** Sends `message` under a fresh id, returned for `cancel`; at the map's bound the call fails at once, and 0 comes back. */
  request(message: JsonRpcRequest, sink: BridgeSink, onHeaders?: (res: Http1Response) => void): number {
    const call: Call = { sink };
    const sent = this.#ids.allocate(message, call);
    if (!sent) {
      sink.onFailure?.(tooManyPending(this.#ids.max), 'limit_exceeded');
      return 0;
    }
    const { id } = sent;
    const session = this.#sessionId;
    call.req = this.#post(
      sent.message,
      (res) => {
        onHeaders?.(res);
        this.#readAnswer(res, id, message.method, session);
      },
      (error) => this.#fail(id, `the server's HTTP endpoint failed: ${error.message}`),
    );
    return id;
  }

  cancel(id: number, reason: string): void {
    const call = this.#ids.take(id)?.value;
    if (!call) return;
    clearTimeout(call.resumeTimer);
    call.req?.destroy();
    // In the stateful revisions a dropped stream is not a cancellation; the server must be told.
    this.notify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } });
  }

  notify(message: JsonRpcNotification): void {
    this.#post(message, discard, () => {});
  }

  respond(message: JsonRpcResponse): void {
    this.#post(message, discard, () => {});
  }

  call(method: string, params: Record<string, unknown> | undefined, timeoutMs: number): Promise<JsonRpcResponse> {
    return this.#callWith(method, params, timeoutMs);
  }

  close(): void {
    this.#closed = true;
    this.#getStream?.destroy();
    this.#client.close('the sandbox is ending');
  }

  #callWith(
    method: string,
    params: Record<string, unknown> | undefined,
    timeoutMs: number,
    onHeaders?: (res: Http1Response) => void,
  ): Promise<JsonRpcResponse> {
    return new Promise((resolve, reject) => {
      let id = 0;
      const timer = setTimeout(() => {
        this.cancel(id, 'timed out');
        reject(new Error(`the server did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const message: JsonRpcRequest = params === undefined ? { jsonrpc: '2.0', id: 0, method } : { jsonrpc: '2.0', id: 0, method, params };
      id = this.request(
        message,
        {
          onNotification: () => {},
          onResponse: (response) => {
            clearTimeout(timer);
            resolve(response);
          },
          onServerRequest: (request) => this.#onServerMessage(request),
          onFailure: (why) => {
            clearTimeout(timer);
            reject(new Error(why));
          },
        },
        onHeaders,
      );
    });
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': this.#version,
    };
    if (this.#sessionId !== undefined) headers['mcp-session-id'] = this.#sessionId;
    return headers;
  }

  #post(message: JsonRpcMessage, onResponse: (res: Http1Response) => void, onError: (error: Error) => void): Exchange {
    return this.#send('POST', this.#headers(), JSON.stringify(message), onResponse, onError);
  }

  /** One HTTP request to the server's MCP endpoint; `onResponse` hears its answer as it starts. */
  #send(
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    body: string | undefined,
    onResponse: (res: Http1Response) => void,
    onError: (error: Error) => void,
  ): Exchange {
    const controller = new AbortController();
    this.#client
      .request({ method, path: this.#path, headers: { ...headers, host: this.#authority }, body, signal: controller.signal })
      .then(onResponse, onError);
    return { destroy: () => controller.abort() };
  }

  /** An answer to one of our requests: plain JSON, or an SSE stream of related messages ending in the response. */
  #readAnswer(res: Http1Response, id: number, method: string, session: string | undefined): void {
    const type = String(res.headers['content-type'] ?? '');
    if (res.statusCode === 404 && session !== undefined && method !== 'initialize') {
      res.body.resume();
      this.#fail(id, 'the server forgot its session; berth is starting a new one, send the request again');
      // Many requests can learn this at once, and some may have been sent under a session already replaced:
      // one new session, once.
      if (session === this.#sessionId && !this.#reinitializing) {
        this.#reinitializing = this.#reinitialize()
          .catch(() => {})
          .finally(() => (this.#reinitializing = undefined));
      }
      return;
    }
    if (type.includes('text/event-stream')) {
      this.#readStream(res, id, new ResumeCursor(), session, false);
      return;
    }
    const answered = (text: string): void => {
      if (text.trim() === '') {
        this.#fail(id, `the server answered HTTP ${res.statusCode} with no body`);
        return;
      }
      this.#fromStream(text, id);
      this.#fail(id, `the server answered HTTP ${res.statusCode} without a JSON-RPC response`);
    };
    const tooLarge = `the server's answer is larger than the ${MAX_SERVER_MESSAGE_BYTES} bytes berth reads whole`;
    // An answer that came whole with its head is read as it is.
    if (res.whole) {
      if (res.whole.length > MAX_SERVER_MESSAGE_BYTES) this.#refuseCall(id, tooLarge);
      else answered(res.whole.toString('utf8'));
      return;
    }
    let text = '';
    const { body } = res;
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      text += chunk;
      if (text.length <= MAX_SERVER_MESSAGE_BYTES) return;
      text = '';
      body.destroy();
      this.#refuseCall(id, tooLarge);
    });
    body.on('end', () => answered(text));
    body.on('error', () => this.#fail(id, 'the server broke off its answer'));
  }

  /** One SSE stream of call `id`, the POST's or a resumed one: what it brings goes to the call. */
  #readStream(res: Http1Response, id: number, cursor: ResumeCursor, session: string | undefined, resumed: boolean): void {
    const reader = new StreamReader(cursor);
    const { body } = res;
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      let events: SseEvent[];
      try {
        events = reader.push(chunk);
      } catch (error) {
        body.destroy();
        this.#refuseCall(id, `the server's answer stream broke the rules: ${(error as Error).message}`);
        return;
      }
      for (const event of events) this.#fromStream(event.data, id);
      // A resumed stream may stay open once it has delivered the answer; nothing more on it is the call's.
      if (resumed && !this.#ids.get(id)) body.destroy();
    });
    body.on('end', () => this.#streamEnded(id, cursor, reader.events > 0, session));
    body.on('error', () => this.#fail(id, 'the server broke off its answer stream'));
  }

  /** A stream of a call ended: unless the call is over, its rest is asked for after the server's delay. */
  #streamEnded(id: number, cursor: ResumeCursor, sawEvents: boolean, session: string | undefined): void {
    const call = this.#ids.get(id)?.value;
    if (!call) return;
    const next = cursor.afterEnd(sawEvents);
    if ('refused' in next) {
      this.#fail(id, next.refused);
      return;
    }
    call.resumeTimer = setTimeout(() => this.#resume(id, call, cursor, session, next.from), next.delayMs);
  }

  /** Asks the server for the rest of a call's stream, from the last event the call got. */
  #resume(id: number, call: Call, cursor: ResumeCursor, session: string | undefined, lastEventId: string): void {
    call.resumeTimer = undefined;
    if (this.#ids.get(id)?.value !== call) return;
    if (this.#closed || session !== this.#sessionId) {
      this.#fail(id, `${ENDED_EARLY}, and its session is gone`);
      return;
    }
    const headers: Record<string, string> = { accept: 'text/event-stream', 'mcp-protocol-version': this.#version, 'last-event-id': lastEventId };
    if (session !== undefined) headers['mcp-session-id'] = session;
    call.req = this.#send(
      'GET',
      headers,
      undefined,
      (res) => {
        if (res.statusCode !== 200 || !String(res.headers['content-type'] ?? '').includes('text/event-stream')) {
          res.body.resume();
          this.#fail(id, `${ENDED_EARLY}, and refused to resume it (HTTP ${res.statusCode})`);
          return;
        }
        this.#readStream(res, id, cursor, session, true);
      },
      (error) => this.#fail(id, `${ENDED_EARLY}, and resuming it failed: ${error.message}`),
    );
  }

  /** One message the server sent, on the stream of call `streamOf` or its GET stream; its faults cost it alone. */
  #fromStream(data: string, streamOf: number | undefined): void {
    const taken = parseServerMessage(data);
    if ('output' in taken) return;
    if ('refused' in taken) {
      this.#log(`berth: ${taken.refused}; it was dropped`);
      if (taken.request && taken.id !== undefined)
        this.respond({ jsonrpc: '2.0', id: taken.id, error: { code: RPC.INVALID_REQUEST, message: `berth: ${taken.refused}` } });
      else if (typeof taken.id === 'number') this.#refuseCall(taken.id, taken.refused);
      return;
    }
    try {
      this.#route(taken.message, streamOf);
    } catch (error) {
      this.#log(`berth: a message from the server could not be handled and was dropped: ${(error as Error).message}`);
    }
  }

  #route(message: JsonRpcMessage, streamOf: number | undefined): void {
    if (isRequest(message)) {
      const sink = this.#ids.get(streamOf)?.value.sink;
      if (sink?.onServerRequest) sink.onServerRequest(message);
      else this.#onServerMessage(message);
      return;
    }
    if (isNotification(message)) {
      if (message.method === 'notifications/progress') {
        const entry = this.#ids.byToken(message.params?.progressToken);
        if (entry && entry.clientToken !== undefined)
          entry.value.sink.onNotification({ ...message, params: { ...message.params, progressToken: entry.clientToken } });
        return;
      }
      this.#onServerMessage(message);
      return;
    }
    const entry = this.#ids.take(message.id);
    if (entry) entry.value.sink.onResponse({ ...message, id: entry.clientId });
  }

  /**
   * A request that got no answer. A server that died shows up on its sockets a moment before its exit status does:
   * wait that moment, so the client hears "the server exited" rather than "the connection broke".
   */
  #fail(id: number, why: string): void {
    const sink = this.#ids.take(id)?.value.sink;
    if (!sink) return;
    void Promise.race([this.#serverExited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 250))]).then((crash) => {
      if (crash !== undefined) sink.onFailure?.(crash, 'server_crashed');
      else sink.onFailure?.(why);
    });
  }

  /** A call whose answer berth will not relay: it ends at once, saying why, and its HTTP request with it. */
  #refuseCall(id: number, why: string): void {
    const call = this.#ids.take(id)?.value;
    if (!call) return;
    clearTimeout(call.resumeTimer);
    call.req?.destroy();
    call.sink.onFailure?.(why, 'sandbox_failed');
  }

  /** The GET stream: what the server sends outside any request (list changes, updates, its own requests). */
  #openGetStream(): void {
    if (this.#closed || this.#sessionId === undefined) return;
    const headers = { accept: 'text/event-stream', 'mcp-protocol-version': this.#version, 'mcp-session-id': this.#sessionId };
    const stream = this.#send(
      'GET',
      headers,
      undefined,
      (res) => {
        const { body } = res;
        const reopen = (): void => {
          if (!this.#closed && this.#getStream === stream) setTimeout(() => this.#openGetStream(), GET_STREAM_RETRY_MS).unref();
        };
        if (res.statusCode !== 200 || !String(res.headers['content-type'] ?? '').includes('text/event-stream')) {
          // 405: this server offers no GET stream; that is allowed.
          body.resume();
          return;
        }
        const parser = new SseParser(MAX_SERVER_MESSAGE_BYTES);
        body.setEncoding('utf8');
        body.on('data', (chunk: string) => {
          let events: SseEvent[];
          try {
            events = parser.push(chunk);
          } catch (error) {
            // An event past the bound: the stream is given up (and opened again) rather than held whole.
            this.#log(`berth: the server's GET stream broke the rules and is opened again: ${(error as Error).message}`);
            body.destroy();
            return;
          }
          for (const event of events) this.#fromStream(event.data, undefined);
        });
        body.on('error', () => {});
        body.on('close', reopen);
      },
      () => {},
    );
    this.#getStream = stream;
  }
}
