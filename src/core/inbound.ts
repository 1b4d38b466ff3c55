import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { clientSignal } from './client-signal.ts';

/**
 * A request as berth's edge reads it: its method, URL, headers and the client's going away, at hand however it
 * arrived. One from node:http keeps its body as the Node stream it arrives on and becomes a web-standard `Request`
 * only when a handler asks for one (`request`), so the hot path never pays for one; one made as a `Request` is
 * that request.
 */
export interface Inbound {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  /**
   * The headers as node:http parsed them (names lower-cased), when the request came from it: cheaper to walk than
   * `headers`, whose iteration sorts them every time.
   */
  readonly nodeHeaders: IncomingHttpHeaders | undefined;
  /** Aborts when the client goes away before its answer is complete. */
  readonly signal: AbortSignal;
  /** The request as a web-standard Request, made on first use. */
  readonly request: Request;
  /** The body as the Node stream it arrives on, while nothing has read it as a web stream; undefined otherwise. */
  nodeBody(): Readable | undefined;
}

/** A web-standard Request as an Inbound. */
export function inboundOf(request: Request, url: URL, signal: AbortSignal = clientSignal(request)): Inbound {
  return { method: request.method, url, headers: request.headers, nodeHeaders: undefined, signal, request, nodeBody: () => undefined };
}
