/** JSON-RPC 2.0 message shapes as MCP uses them, and the few predicates every layer needs. */

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

export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_HEADER_MISMATCH = -32020;
export const RPC_MISSING_CAPABILITY = -32021;
export const RPC_UNSUPPORTED_VERSION = -32022;

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
    case RPC_METHOD_NOT_FOUND:
      return 404;
    case -32700:
    case -32600:
    case RPC_INVALID_PARAMS:
    case RPC_HEADER_MISMATCH:
    case RPC_MISSING_CAPABILITY:
    case RPC_UNSUPPORTED_VERSION:
      return 400;
    default:
      return 200;
  }
}
