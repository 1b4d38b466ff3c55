import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { withClientSignal } from '../core/client-signal.ts';
import type { Inbound, RequestHeaders } from '../core/inbound.ts';
import { lazyWebStream } from '../core/web-stream.ts';

/**
 * A request from node:http as an Inbound. Its headers are read where node:http keeps them; its body stays the Node
 * stream it arrives on, and a web-standard Request is made only when a handler asks for one (a runtime's authorizer,
 * the `/v1` API, AgentCore's signature check): the hot path of an MCP call never makes one.
 */
export class NodeInbound implements Inbound {
  readonly method: string;
  readonly url: URL;
  readonly headers: RequestHeaders;
  readonly signal: AbortSignal;
  readonly upgrade: boolean;
  readonly #req: IncomingMessage;
  readonly #hasBody: boolean;
  #request: Request | undefined;

  constructor(req: IncomingMessage, method: string, url: URL, signal: AbortSignal, hasBody: boolean, upgrade = false) {
    this.#req = req;
    this.upgrade = upgrade;
    this.method = method;
    this.url = url;
    this.signal = signal;
    this.#hasBody = hasBody;
    this.headers = new NodeHeaders(req);
  }

  get request(): Request {
    if (this.#request) return this.#request;
    // Its body reads the Node stream only when pulled; a body left unread stays the Node adapter's to throw away.
    const headers = new Headers();
    const raw = this.#req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
    const init = { method: this.method, headers, body: this.#hasBody ? lazyWebStream(this.#req, true) : null, duplex: 'half' };
    this.#request = withClientSignal(new Request(this.url, init as RequestInit), this.signal);
    return this.#request;
  }

  nodeBody(): Readable | undefined {
    return this.#hasBody && this.#request?.bodyUsed !== true ? this.#req : undefined;
  }
}

/**
 * Headers node:http keeps only the first of where `Headers` joins every value with ", ": these are read from the raw
 * headers, so that a repeated Host is seen as `Headers` sees it, and refused. (Cookie is left to node:http, which
 * joins repeated ones with "; " as a server expects cookies.)
 */
const NOT_JOINED = new Set([
  'host',
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/** node:http's parse of a request's headers, read in place exactly as a `Headers` made from them would read. */
class NodeHeaders implements RequestHeaders {
  readonly #req: IncomingMessage;

  constructor(req: IncomingMessage) {
    this.#req = req;
  }

  get(name: string): string | null {
    const lower = name.toLowerCase();
    if (NOT_JOINED.has(lower)) return this.#joined(lower);
    // Own fields only: a name such as "constructor" is a header nobody sent.
    const value = Object.hasOwn(this.#req.headers, lower) ? this.#req.headers[lower] : undefined;
    if (value === undefined) return null;
    return typeof value === 'string' ? value : value.join(', ');
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  forEach(callback: (value: string, name: string) => void): void {
    const { headers } = this.#req;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      if (NOT_JOINED.has(name)) callback(this.#joined(name) as string, name);
      else callback(typeof value === 'string' ? value : value.join(', '), name);
    }
  }

  #joined(lower: string): string | null {
    const raw = this.#req.rawHeaders;
    let joined: string | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (name.length !== lower.length || name.toLowerCase() !== lower) continue;
      joined = joined === null ? (raw[i + 1] as string) : `${joined}, ${raw[i + 1] as string}`;
    }
    return joined;
  }
}
