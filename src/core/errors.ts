/**
 * The one error registry. Every error berth reports has a stable string code; the code alone decides the HTTP
 * status, the JSON-RPC code and the exception AgentCore's API reports, so a new code cannot ship without all three.
 *
 * Wire shapes (the same fields everywhere):
 *   REST:     { "error": { "code": "runtime_not_found", "message": "...", "details": { ... } } }
 *   JSON-RPC: { "jsonrpc": "2.0", "id": 1, "error": { "code": -32001, "message": "...",
 *               "data": { "code": "runtime_not_found", ...details } } }
 * In JSON-RPC the details sit beside the code in `data`, because MCP fixes the `data` of its own errors
 * (`supported`/`requested` for -32022, `requiredCapabilities` for -32021, `mismatch` for -32020).
 */
import { RPC, type RpcCode } from './rpc-codes.ts';

interface ErrorKind {
  /** HTTP status of a response that carries this error. */
  readonly status: number;
  /** JSON-RPC error code when the error answers an MCP request (rpc-codes.ts). -32000..-32019 are implementation-defined. */
  readonly rpc: RpcCode;
  /** The exception AgentCore's API reports it as (restJson1 `x-amzn-errortype`). */
  readonly aws: AwsException;
}

/** The exceptions of AgentCore's two API models that berth raises. */
export type AwsException =
  | 'ValidationException'
  | 'UnauthorizedException'
  | 'AccessDeniedException'
  | 'ResourceNotFoundException'
  | 'ConflictException'
  | 'ThrottlingException'
  | 'RuntimeClientError'
  | 'InternalServerException';

export const ERROR_KINDS = {
  parse_error: { status: 400, rpc: RPC.PARSE_ERROR, aws: 'ValidationException' },
  invalid_request: { status: 400, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  invalid_params: { status: 400, rpc: RPC.INVALID_PARAMS, aws: 'ValidationException' },
  invalid_session_id: { status: 400, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  validation_failed: { status: 400, rpc: RPC.INVALID_PARAMS, aws: 'ValidationException' },
  header_mismatch: { status: 400, rpc: RPC.HEADER_MISMATCH, aws: 'ValidationException' },
  unsupported_protocol_version: { status: 400, rpc: RPC.UNSUPPORTED_VERSION, aws: 'ValidationException' },
  missing_client_capability: { status: 400, rpc: RPC.MISSING_CAPABILITY, aws: 'ValidationException' },
  session_required: { status: 400, rpc: RPC.NEEDS_SESSION, aws: 'ValidationException' },
  method_not_found: { status: 404, rpc: RPC.METHOD_NOT_FOUND, aws: 'ResourceNotFoundException' },
  request_state_invalid: { status: 400, rpc: RPC.INVALID_PARAMS, aws: 'ValidationException' },
  request_state_expired: { status: 400, rpc: RPC.INVALID_PARAMS, aws: 'ValidationException' },
  request_state_mismatch: { status: 400, rpc: RPC.INVALID_PARAMS, aws: 'ValidationException' },
  unauthorized: { status: 401, rpc: RPC.INVALID_REQUEST, aws: 'UnauthorizedException' },
  forbidden: { status: 403, rpc: RPC.INVALID_REQUEST, aws: 'AccessDeniedException' },
  not_found: { status: 404, rpc: RPC.NOT_FOUND, aws: 'ResourceNotFoundException' },
  runtime_not_found: { status: 404, rpc: RPC.NOT_FOUND, aws: 'ResourceNotFoundException' },
  version_not_found: { status: 404, rpc: RPC.NOT_FOUND, aws: 'ResourceNotFoundException' },
  endpoint_not_found: { status: 404, rpc: RPC.NOT_FOUND, aws: 'ResourceNotFoundException' },
  session_not_found: { status: 404, rpc: RPC.NOT_FOUND, aws: 'ResourceNotFoundException' },
  artifact_not_found: { status: 404, rpc: RPC.NOT_FOUND, aws: 'ResourceNotFoundException' },
  method_not_allowed: { status: 405, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  not_acceptable: { status: 406, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  /** A WebSocket door reached without a WebSocket handshake (426 Upgrade Required). */
  upgrade_required: { status: 426, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  /** A request reached a node of the cluster that does not hold its session (421 Misdirected Request); retry it. */
  misdirected: { status: 421, rpc: RPC.INVALID_REQUEST, aws: 'ConflictException' },
  conflict: { status: 409, rpc: RPC.INVALID_REQUEST, aws: 'ConflictException' },
  session_runtime_mismatch: { status: 409, rpc: RPC.INVALID_REQUEST, aws: 'ConflictException' },
  /** The session was ended on purpose (stopped, its maximum lifetime, its node shutting down) while the request ran. */
  session_ended: { status: 409, rpc: RPC.INVALID_REQUEST, aws: 'ConflictException' },
  body_too_large: { status: 413, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  unsupported_media_type: { status: 415, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  session_limit: { status: 429, rpc: RPC.BUSY, aws: 'ThrottlingException' },
  rate_limited: { status: 429, rpc: RPC.BUSY, aws: 'ThrottlingException' },
  /** Something a client keeps in berth (subscriptions, listeners, questions waiting) is at its per-session bound. */
  limit_exceeded: { status: 429, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  /** A session has as many shells open as it may (AgentCore's 10; its upgrade answers 429 too). */
  shell_limit: { status: 429, rpc: RPC.BUSY, aws: 'ThrottlingException' },
  request_timeout: { status: 408, rpc: RPC.INVALID_REQUEST, aws: 'ValidationException' },
  /** The node sheds load (start queue full, memory low, too many connections); retry after `Retry-After`, maybe elsewhere. */
  overloaded: { status: 503, rpc: RPC.BUSY, aws: 'ThrottlingException' },
  /**
   * The node is draining before it stops: its work under way finishes, but it starts no new session. Retry after
   * `Retry-After`, which the load balancer (told by `/healthz`) sends to another node.
   */
  draining: { status: 503, rpc: RPC.BUSY, aws: 'ThrottlingException' },
  issuer_unavailable: { status: 503, rpc: RPC.UPSTREAM, aws: 'InternalServerException' },
  /** The cluster's PostgreSQL does not answer: live sessions go on from what the node knows; retry writes and new sessions. */
  store_unavailable: { status: 503, rpc: RPC.UPSTREAM, aws: 'InternalServerException' },
  server_crashed: { status: 502, rpc: RPC.UPSTREAM, aws: 'RuntimeClientError' },
  sandbox_failed: { status: 502, rpc: RPC.UPSTREAM, aws: 'RuntimeClientError' },
  sandbox_unavailable: { status: 503, rpc: RPC.UPSTREAM, aws: 'RuntimeClientError' },
  shutting_down: { status: 503, rpc: RPC.UPSTREAM, aws: 'InternalServerException' },
  server_start_timeout: { status: 504, rpc: RPC.UPSTREAM, aws: 'RuntimeClientError' },
  internal: { status: 500, rpc: RPC.INTERNAL_ERROR, aws: 'InternalServerException' },
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERROR_KINDS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_KINDS, value);
}

export type ErrorDetails = Record<string, unknown>;

/** The error body both wire shapes carry. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: ErrorDetails;
}

const BRAND = Symbol.for('berth.error');

export interface BerthErrorOptions {
  details?: ErrorDetails;
  cause?: unknown;
  /** Seconds the caller should wait before retrying; becomes `Retry-After`. */
  retryAfter?: number;
  /** How the caller may authenticate (RFC 9110 §11.6.1); becomes `WWW-Authenticate`. */
  challenge?: string;
}

/**
 * An error with a registry code. `message` is what a user reads: it says what happened and what to do. The
 * internal `cause` is kept for logs and never sent on the wire.
 */
export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;
  readonly retryAfter: number | undefined;
  readonly challenge: string | undefined;

  constructor(code: ErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    this.details = options.details;
    this.retryAfter = options.retryAfter;
    this.challenge = options.challenge;
    Object.defineProperty(this, BRAND, { value: true });
  }

  get status(): number {
    return ERROR_KINDS[this.code].status;
  }

  get rpcCode(): number {
    return ERROR_KINDS[this.code].rpc;
  }

  get awsException(): AwsException {
    return ERROR_KINDS[this.code].aws;
  }

  toBody(): ErrorBody {
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }
}

/** Brand check, so errors from another copy of this module (a bundle, a test helper) still match. */
export function isBerthError(value: unknown): value is BerthError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Any thrown value as a BerthError; unknown failures become `internal` with a message that hides internals. */
export function toBerthError(value: unknown): BerthError {
  if (isBerthError(value)) return value;
  return new BerthError('internal', 'berth hit an internal error; the logs hold the cause', { cause: value });
}

export type JsonRpcId = string | number | null;

export interface JsonRpcErrorMessage {
  jsonrpc: '2.0';
  id: JsonRpcId;
  error: { code: number; message: string; data: { code: ErrorCode; [detail: string]: unknown } };
}

export function restErrorBody(error: BerthError): { error: ErrorBody } {
  return { error: error.toBody() };
}

export function jsonRpcErrorBody(error: BerthError, id: JsonRpcId): JsonRpcErrorMessage {
  return { jsonrpc: '2.0', id, error: { code: error.rpcCode, message: error.message, data: { ...error.details, code: error.code } } };
}
