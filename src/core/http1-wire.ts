import { Readable } from 'node:stream';

/**
 * HTTP/1.1 as berth's own client and server write and read it (./http1-client.ts, ./http1-server.ts): request heads,
 * checked as they are built, and answer and request heads and chunk sizes, checked as they are read. Pure functions
 * over strings.
 */

export type Http1Headers = Record<string, string | string[]>;

/**
 * One request; `method` POST unless given. `body` whole, streamed as it arrives (chunked, or as it is when the
 * headers give its length), or none.
 */
export interface Http1Request {
  method?: string;
  path: string;
  headers: Http1Headers;
  body?: Uint8Array | string | Readable | undefined;
  /** Aborting closes the request's connection, which the peer takes as cancellation. */
  signal?: AbortSignal | undefined;
  /**
   * A streamed body that is another connection's request (a request being proxied): an answer that comes before its
   * end stops reading it and leaves the rest to its owner. Otherwise such a body is destroyed.
   */
  keepBody?: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** An origin-form request target: a path and query, no spaces or controls. */
const REQUEST_TARGET = /^\/[\x21-\x7e]*$/;
/** How a head announcing a chunked body ends. */
export const CHUNKED_HEAD_END = 'transfer-encoding: chunked\r\n\r\n';

/**
 * The head of a request, checked: a header HTTP forbids would otherwise split the request on the connection. A
 * request whose headers give no Host says it is for `localhost`. The body's framing is the client's to write: a
 * whole body's length, a streamed body's length when the headers give one (it goes as it is), chunks otherwise.
 */
export function requestHead({ method = 'POST', path, headers, body }: Http1Request): string {
  if (!TOKEN.test(method) || !REQUEST_TARGET.test(path)) throw new TypeError(`"${method} ${path.slice(0, 60)}" is not a valid HTTP request line`);
  let head = `${method} ${path} HTTP/1.1\r\n`;
  if (headers.host === undefined) head += 'host: localhost\r\n';
  let length: string | string[] | undefined;
  for (const name in headers) {
    const value = headers[name] as string | string[];
    if (!TOKEN.test(name)) throw new TypeError(`"${name.slice(0, 40)}" is not a valid HTTP header name`);
    const lower = name.toLowerCase();
    if (lower === 'content-length') length = value;
    if (lower === 'content-length' || lower === 'transfer-encoding') continue;
    if (typeof value === 'string') head += headerLine(name, value);
    else for (const one of value) head += headerLine(name, one);
  }
  if (body instanceof Readable) {
    if (typeof length === 'string' && /^\d{1,15}$/.test(length)) return `${head}content-length: ${length}\r\n\r\n`;
    return `${head}${CHUNKED_HEAD_END}`;
  }
  if (body === undefined) return `${head}\r\n`;
  return `${head}content-length: ${typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength}\r\n\r\n`;
}

/** Fields a server's answer head gets from the server itself, whatever its handler gives. */
const CONNECTION_FIELDS = new Set(['transfer-encoding', 'connection', 'keep-alive']);

/**
 * The head of an answer (./http1-server.ts), checked as a request's is; `fields` are the server's own lines for the
 * body's framing and the connection, which replace any the handler gave.
 */
export function answerHead(status: number, reason: string, headers: AnswerHeaders | undefined, fields: string): string {
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const name in headers) {
    const value = headers[name] as string | number | string[];
    if (!TOKEN.test(name)) throw new TypeError(`"${name.slice(0, 40)}" is not a valid HTTP header name`);
    if (CONNECTION_FIELDS.has(name.toLowerCase())) continue;
    if (typeof value === 'object') for (const one of value) head += headerLine(name, one);
    else head += headerLine(name, String(value));
  }
  return `${head}${fields}\r\n`;
}

/** An answer's headers as a handler gives them. */
export type AnswerHeaders = Record<string, string | number | string[]>;

function headerLine(name: string, value: string): string {
  if (!FIELD_VALUE.test(value)) throw new TypeError(`the value of header "${name}" holds characters HTTP does not allow`);
  return `${name}: ${value}\r\n`;
}

export interface Head {
  status: number;
  headers: Http1Headers;
  /** How the body ends: after this many bytes, with its last chunk, or when the connection closes. */
  framing: number | 'chunked' | 'close';
  keepAlive: boolean;
  /** How long the peer keeps the connection idle, by its Keep-Alive header, less a second's margin. */
  idleMs: number | undefined;
}

/** An answer's head, or what is wrong with it. */
export function parseHead(text: string): Head | string {
  const lines = text.split('\r\n');
  const statusLine = lines[0] as string;
  const match = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/.exec(statusLine);
  if (!match) return `a status line of "${statusLine.slice(0, 60)}"`;
  const fields = parseFields(lines, match[1] === '0');
  if (typeof fields === 'string') return fields;
  const { headers, length, chunked, close, idleMs } = fields;
  return { status: Number(match[2]), headers, framing: chunked ? 'chunked' : (length ?? 'close'), keepAlive: !close && idleMs !== 0, idleMs };
}

export interface RequestHead {
  method: string;
  /** The request target as sent (origin form: a path and its query). */
  path: string;
  headers: Http1Headers;
  /** How the body ends: after this many bytes (0: no body) or with its last chunk. */
  framing: number | 'chunked';
  /** The connection may carry another request after this one. */
  keepAlive: boolean;
}

/** A request's head (./http1-server.ts), or what is wrong with it. */
export function parseRequestHead(text: string): RequestHead | string {
  const lines = text.split('\r\n');
  const requestLine = lines[0] as string;
  const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\/[\x21-\x7e]*) HTTP\/1\.([01])$/.exec(requestLine);
  if (!match) return `a request line of "${requestLine.slice(0, 60)}"`;
  const fields = parseFields(lines, match[3] === '0');
  if (typeof fields === 'string') return fields;
  const { headers, length, chunked, close } = fields;
  // A request without a length or chunks has no body (RFC 9112 section 6.3).
  return { method: match[1] as string, path: match[2] as string, headers, framing: chunked ? 'chunked' : (length ?? 0), keepAlive: !close };
}

interface Fields {
  headers: Http1Headers;
  length: number | undefined;
  chunked: boolean;
  close: boolean;
  idleMs: number | undefined;
}

/** The header lines after a head's first line, checked; `close` to begin with for HTTP/1.0. */
function parseFields(lines: string[], close: boolean): Fields | string {
  // No prototype: a header named __proto__ or constructor is a header like any other.
  const headers: Http1Headers = Object.create(null) as Http1Headers;
  const fields: Fields = { headers, length: undefined, chunked: false, close, idleMs: undefined };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return `a header line of "${line.slice(0, 60)}"`;
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) return `a header name of "${name.slice(0, 60)}"`;
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) return `header "${name}" holding characters HTTP does not allow`;
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (fields.length !== undefined && fields.length !== Number(value))) return `a content-length of "${value.slice(0, 40)}"`;
      // The same length twice is one length, passed on once.
      if (fields.length !== undefined) continue;
      fields.length = Number(value);
    } else if (name === 'transfer-encoding') {
      if (value.toLowerCase() !== 'chunked' || fields.chunked) return `a transfer-encoding of "${value.slice(0, 40)}"`;
      fields.chunked = true;
    } else if (name === 'connection') {
      if (
        value
          .toLowerCase()
          .split(',')
          .some((token) => token.trim() === 'close')
      )
        fields.close = true;
    } else if (name === 'keep-alive') {
      const timeout = /(?:^|[\s,])timeout=(\d{1,6})/i.exec(value);
      if (timeout) fields.idleMs = Math.max(0, Number(timeout[1]) - 1) * 1000;
    }
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (typeof previous === 'string') headers[name] = [previous, value];
    else previous.push(value);
  }
  if (fields.chunked && fields.length !== undefined) return 'both a content-length and a transfer-encoding';
  return fields;
}

/** A chunk's size from its size line (extensions after `;` ignored), or undefined when it is not one. */
export function chunkSize(line: string): number | undefined {
  const semicolon = line.indexOf(';');
  const digits = (semicolon < 0 ? line : line.slice(0, semicolon)).trim();
  if (!/^[0-9a-fA-F]{1,12}$/.test(digits)) return undefined;
  return Number.parseInt(digits, 16);
}

/** The Host header's value for a TCP peer. */
export function authorityOf(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
