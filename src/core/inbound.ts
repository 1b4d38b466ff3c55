import type { Readable } from 'node:stream';
import { clientSignal } from './client-signal.ts';

/**
 * A request's headers, read by name (case-insensitively; a repeated header's values joined with ", "): a web
 * `Headers`, or node:http's own parse read in place, so the hot path never copies them into a `Headers`.
 */
export interface RequestHeaders {
  get(name: string): string | null;
  has(name: string): boolean;
  forEach(callback: (value: string, name: string) => void): void;
}

/**
 * A request as berth's edge reads it: its method, URL, headers and the client's going away, at hand however it
 * arrived. One from node:http keeps its body as the Node stream it arrives on and becomes a web-standard `Request`
 * only when a handler asks for one (`request`), so the hot path never pays for one; one made as a `Request` is
 * that request.
 */
export interface Inbound {
  readonly method: string;
  readonly url: URL;
  readonly headers: RequestHeaders;
  /** Aborts when the client goes away before its answer is complete. */
  readonly signal: AbortSignal;
  /** The request as a web-standard Request, made on first use. */
  readonly request: Request;
  /** The body as the Node stream it arrives on, while nothing has read it as a web stream; undefined otherwise. */
  nodeBody(): Readable | undefined;
  /** The request asks to upgrade its connection, and the adapter it came through can hand the connection over. */
  readonly upgrade?: boolean;
}

/** A web-standard Request as an Inbound. */
export function inboundOf(request: Request, url: URL, signal: AbortSignal = clientSignal(request)): Inbound {
  return { method: request.method, url, headers: request.headers, signal, request, nodeBody: () => undefined };
}
