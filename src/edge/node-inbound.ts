import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { withClientSignal } from '../core/client-signal.ts';
import type { Inbound } from '../core/inbound.ts';
import { lazyWebStream } from '../core/web-stream.ts';

/**
 * A request from node:http as an Inbound. Its headers are read once into a `Headers`; its body stays the Node
 * stream it arrives on, and a web-standard Request is made only when a handler asks for one (a runtime's authorizer,
 * the `/v1` API, AgentCore's signature check): the hot path of an MCP call never makes one.
 */
export class NodeInbound implements Inbound {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  readonly signal: AbortSignal;
  readonly #req: IncomingMessage;
  readonly #hasBody: boolean;
  #request: Request | undefined;

  constructor(req: IncomingMessage, method: string, url: URL, signal: AbortSignal, hasBody: boolean) {
    this.#req = req;
    this.method = method;
    this.url = url;
    this.signal = signal;
    this.#hasBody = hasBody;
    const headers = new Headers();
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
    this.headers = headers;
  }

  get request(): Request {
    if (this.#request) return this.#request;
    // Its body reads the Node stream only when pulled; a body left unread stays the Node adapter's to throw away.
    const init = { method: this.method, headers: this.headers, body: this.#hasBody ? lazyWebStream(this.#req, true) : null, duplex: 'half' };
    this.#request = withClientSignal(new Request(this.url, init as RequestInit), this.signal);
    return this.#request;
  }

  get nodeHeaders(): IncomingHttpHeaders {
    return this.#req.headers;
  }

  nodeBody(): Readable | undefined {
    return this.#hasBody && this.#request?.bodyUsed !== true ? this.#req : undefined;
  }
}
