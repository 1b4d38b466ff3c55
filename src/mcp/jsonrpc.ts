/** JSON-RPC 2.0 message shapes as MCP uses them, and the few predicates every layer needs. */
import { BerthError } from '../core/errors.ts';
import { notJson } from '../core/http.ts';
import { RPC } from '../core/rpc-codes.ts';

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/**
 * How deeply a client's message may nest. MCP's own shapes nest a handful of levels and real tool arguments a few
 * more, so 64 refuses no real client; JSON.stringify, schema validators and other recursive walks over parsed JSON
 * (berth's, and the server's) overflow the stack at a few thousand levels, which 20 KB of brackets reach.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * How deeply a server's message may nest. Results carry whatever structured content a tool returns, so the bound is
 * looser than a client's, yet far below the depth at which relaying the message (JSON.stringify) overflows the stack.
 */
export const MAX_SERVER_JSON_DEPTH = 512;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether JSON text nests objects and arrays more than `limit` deep, found without parsing it: one pass that keeps a
 * counter, so no input can overflow the stack, and it stops at the first level past the bound. Brackets inside
 * strings do not count. Text that is not JSON gets an answer too; parsing it then says what is wrong.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      if (i === -1) return false;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** The index of the quote that ends the string opening at `open`, or -1 when it never ends. */
function stringEnd(text: string, open: number): number {
  for (let at = text.indexOf('"', open + 1); at !== -1; at = text.indexOf('"', at + 1)) {
    // A quote after an odd run of backslashes is escaped. Runs before different quotes never overlap: one pass in all.
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/** A well-formed single JSON-RPC message, or undefined. Params must be an object when present (MCP never uses arrays). */
export function asJsonRpcMessage(value: unknown): JsonRpcMessage | undefined {
  if (!isObject(value) || value.jsonrpc !== '2.0') return undefined;
  if (value.params !== undefined && !isObject(value.params)) return undefined;
  if (typeof value.method === 'string') {
    if (value.id === undefined) return value as unknown as JsonRpcNotification;
    return isId(value.id) ? (value as unknown as JsonRpcRequest) : undefined;
  }
  if ((value.id === null || isId(value.id)) && (isObject(value.result) || isObject(value.error))) {
    return value as unknown as JsonRpcResponse;
  }
  return undefined;
}

/** A method berth relays: it travels in the `Mcp-Method` header as well as the body, so it must fit one. */
const METHOD = /^[\x21-\x7e]{1,128}$/;
const CALL_MEMBERS = new Set(['jsonrpc', 'id', 'method', 'params']);
const RESPONSE_MEMBERS = new Set(['jsonrpc', 'id', 'result', 'error']);

const isIntegerOrString = (value: unknown): boolean => typeof value === 'string' || Number.isSafeInteger(value);

/**
 * Why a client's message is not one an MCP server takes, or undefined. The SDKs' stdio transports drop a message
 * their schema refuses without a word, which would leave its call unanswered for ever; berth refuses it first, and
 * says why: JSON-RPC's own members only, an id that is a string or an integer (MCP's rule), a method that fits a
 * header, a progress token that is a string or an integer, and an error with an integer code and a message.
 */
export function clientMessageProblem(message: JsonRpcMessage): string | undefined {
  const members = 'method' in message ? CALL_MEMBERS : RESPONSE_MEMBERS;
  const extra = Object.keys(message).find((key) => !members.has(key));
  if (extra !== undefined) return `it has a member JSON-RPC does not define (${JSON.stringify(extra.slice(0, 40))})`;
  if ('id' in message && message.id !== undefined && !isIntegerOrString(message.id) && !(message.id === null && !('method' in message))) {
    return 'its id must be a string or an integer';
  }
  if ('method' in message) {
    if (!METHOD.test(message.method)) return 'its method must be 1 to 128 printable ASCII characters';
    const token = (message.params?._meta as Record<string, unknown> | undefined)?.progressToken;
    if (token !== undefined && !isIntegerOrString(token)) return 'its _meta.progressToken must be a string or an integer';
    return undefined;
  }
  const { error } = message as JsonRpcResponse;
  if (error !== undefined && (!Number.isSafeInteger(error.code) || typeof error.message !== 'string'))
    return 'its error must have an integer code and a string message';
  return undefined;
}

/**
 * A client's one JSON-RPC message from its text, or a BerthError saying what is wrong: too deep (checked before
 * parsing), not JSON, a batch, or not a message a server takes (`clientMessageProblem`). The edge and the supervisor
 * both read client messages through this.
 */
export function readClientMessage(text: string): JsonRpcMessage {
  // Refused before it is parsed, and so before any sandbox sees it: the depth that overflows recursive code anywhere.
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new BerthError('invalid_request', `request body nests more than ${MAX_JSON_DEPTH} levels deep; no MCP message needs that many, send a flatter one`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BerthError('parse_error', `request body is ${notJson(error)}`);
  }
  if (Array.isArray(value)) throw new BerthError('invalid_request', 'JSON-RPC batches are not supported; send one message per request');
  const message = asJsonRpcMessage(value);
  if (!message) throw new BerthError('invalid_request', 'request body is not a JSON-RPC 2.0 request, notification or response');
  const problem = clientMessageProblem(message);
  if (problem) throw new BerthError('invalid_request', `request body is not a JSON-RPC message an MCP server takes: ${problem}`);
  return message;
}

export function isRequest(message: JsonRpcMessage): message is JsonRpcRequest {
  return 'method' in message && 'id' in message && message.id !== undefined;
}

export function isNotification(message: JsonRpcMessage): message is JsonRpcNotification {
  return 'method' in message && !('id' in message && message.id !== undefined);
}

export function isResponse(message: JsonRpcMessage): message is JsonRpcResponse {
  return !('method' in message);
}

/**
 * The HTTP status a Streamable HTTP server gives a JSON-RPC error answer: the 2026-07-28 transport requires 400 for
 * envelope, header, capability and version errors and 404 for unknown methods; other errors ride on 200.
 */
export function httpStatusForRpcError(code: number): number {
  switch (code) {
    case RPC.METHOD_NOT_FOUND:
      return 404;
    case RPC.PARSE_ERROR:
    case RPC.INVALID_REQUEST:
    case RPC.INVALID_PARAMS:
    case RPC.HEADER_MISMATCH:
    case RPC.MISSING_CAPABILITY:
    case RPC.UNSUPPORTED_VERSION:
      return 400;
    default:
      return 200;
  }
}
