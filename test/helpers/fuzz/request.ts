/**
 * What the fuzzer sends: a request drafted as a well-formed one of its surface, then mutated. JSON bodies stay a
 * tree until they are sent, so mutations can reach any field; the tree may hold JSON text that `JSON.stringify`
 * cannot make (NaN, 50 000 levels of nesting, a key given twice), which the serializer writes as it is.
 */

/** AgentCore's session header, which berth's own MCP routes take too. */
export const SESSION_HEADER = 'X-Amzn-Bedrock-AgentCore-Runtime-Session-Id';

export type Surface = 'mcp' | 'legacy' | 'v1' | 'agentcore-control' | 'agentcore-data' | 'raw';

/** JSON text written into the body as it is. */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export type Json = null | boolean | number | string | RawJson | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Entries an object is serialized with after its own: keys given twice. */
export const DUPLICATE_ENTRIES = new WeakMap<JsonObject, Array<[string, Json]>>();

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RawJson);
}

/** The body as text, RawJson inlined and duplicate keys written where `DUPLICATE_ENTRIES` puts them. */
export function serialize(value: Json): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  if (isObject(value)) {
    const entries = [...Object.entries(value), ...(DUPLICATE_ENTRIES.get(value) ?? [])];
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${serialize(item)}`).join(',')}}`;
  }
  // Numbers JSON cannot hold (NaN, Infinity) come as RawJson; any that slip through become null, as JSON.stringify does.
  return JSON.stringify(value) ?? 'null';
}

/** How an AgentCore request proves itself: a valid SigV4 over what is sent, one that no longer matches, or none. */
export type Signing = 'valid' | 'forged' | 'none';

/** A request under construction: the generator's well-formed one, then each mutation's change. */
export interface Draft {
  surface: Surface;
  method: string;
  /** Path and query as they go on the request line. */
  target: string;
  /** In order; a name may come twice. */
  headers: Array<[string, string]>;
  /** The JSON body, until a mutation turns it into bytes. */
  json?: Json;
  body?: Buffer;
  signing?: Signing;
  /** Sent as written on a connection of its own: its framing lies, or node:http would refuse its headers. */
  raw?: boolean;
  /** Chunked rather than with a Content-Length, on the node:http path. */
  chunked?: boolean;
  /** Raw TCP only: the exact bytes, with when to close the connection. */
  bytes?: Buffer;
  closeAfterMs?: number;
  /** What was made and how it was mutated, for the report of a failure. */
  story: string[];
  /** What a 2xx answer teaches the generators (sessions, request states, ids). */
  learn?: Learner;
}

export interface Answer {
  /** 0: the connection closed (or was cut by the fuzzer) without a status line. */
  status: number;
  headers: Record<string, string>;
  /** The start of the body (at most what the fuzzer keeps). */
  body: string;
  /** Every status line of a raw connection's answers (pipelined requests get several), with each one's body start. */
  all: Array<{ status: number; body: string }>;
  /** How the answer ended: complete, cut by the fuzzer (an open stream), timed out, or the connection failed. */
  ending: 'complete' | 'cut' | 'timeout' | 'error';
  error?: string;
  ms: number;
}

export type Learner = (answer: Answer) => void;

export function header(draft: Draft, name: string): string | undefined {
  const lower = name.toLowerCase();
  return draft.headers.find(([key]) => key.toLowerCase() === lower)?.[1];
}

export function setHeader(draft: Draft, name: string, value: string): void {
  removeHeader(draft, name);
  draft.headers.push([name, value]);
}

export function removeHeader(draft: Draft, name: string): void {
  const lower = name.toLowerCase();
  draft.headers = draft.headers.filter(([key]) => key.toLowerCase() !== lower);
}

/** The body's bytes as they will be sent. */
export function bodyOf(draft: Draft): Buffer | undefined {
  if (draft.body !== undefined) return draft.body;
  if (draft.json !== undefined) return Buffer.from(serialize(draft.json), 'utf8');
  return undefined;
}
