/**
 * The one table of the JSON-RPC error codes berth sends or reads. Every layer imports it from here (core imports
 * nothing), so a code is written as a number once: the error registry (errors.ts) maps its codes onto these, and the
 * supervisor's own answers to a server, and the transport's status rules, name them.
 */
export const RPC = {
  /** JSON-RPC 2.0: the text is not JSON. */
  PARSE_ERROR: -32700,
  /** JSON-RPC 2.0: JSON, but not a valid request. */
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** berth could not reach, start or keep the session's server. */
  UPSTREAM: -32000,
  /**
   * What a stateful-era server answers a request that needs a session it has not got ("Bad Request: no valid
   * session"): implementation-defined, so no 2026-07-28 client reads it as a modern server's refusal, and every one
   * falls back to `initialize` on it.
   */
  NEEDS_SESSION: -32000,
  /** A named thing (runtime, session, endpoint) does not exist. */
  NOT_FOUND: -32001,
  /** "Resource not found" as the stateful revisions state it; 2026-07-28 says INVALID_PARAMS (SEP-2164). */
  LEGACY_RESOURCE_NOT_FOUND: -32002,
  /** berth is at a capacity limit; the caller may retry after `Retry-After`. */
  BUSY: -32005,
  /** MCP 2026-07-28: an `Mcp-*` header disagrees with the body it mirrors. */
  HEADER_MISMATCH: -32020,
  /** MCP 2026-07-28: the request needs a client capability its `clientCapabilities` do not declare. */
  MISSING_CAPABILITY: -32021,
  /** MCP 2026-07-28: the request names a protocol revision the server does not speak. */
  UNSUPPORTED_VERSION: -32022,
} as const;

export type RpcCode = (typeof RPC)[keyof typeof RPC];
