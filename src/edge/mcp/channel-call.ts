import { Readable } from 'node:stream';
import { HOP_BY_HOP_HEADERS } from '../../core/http.ts';
import { CHANNEL_MCP_PATH } from '../../core/channel.ts';
import type { RequestHeaders } from '../../core/inbound.ts';
import { readUpTo } from '../../core/read-up-to.ts';
import { BerthError, isBerthError, isErrorCode, type ErrorCode } from '../../core/errors.ts';
import { channelClient } from '../../sandbox/channel-client.ts';
import type { Lease } from '../../sessions/manager.ts';
import { NodeAnswer, type AnswerHeaders } from '../../core/answer.ts';
import { ANONYMOUS } from '../auth/principal.ts';

const BERTH_ERROR_HEADER = 'x-berth-error';
/** AgentCore's session header: requests name their session with it, and answers say which session served them. */
export const SESSION_HEADER = 'x-amzn-bedrock-agentcore-runtime-session-id';
/**
 * Request headers that describe one hop, or that berth sets itself, and so are not passed to the sandbox. The
 * caller's credentials stay at the edge: the server learns who called from the user id header, never the token.
 */
const NOT_FORWARDED = new Set<string>([...HOP_BY_HOP_HEADERS, 'host', 'content-length', 'expect', 'authorization']);
/** AgentCore's header naming the user a call is for. */
export const USER_ID_HEADER = 'x-amzn-bedrock-agentcore-runtime-user-id';

export interface ChannelAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  readonly body: Readable;
  /** The whole body when it came with the head; `body` is then made only if read. */
  readonly whole?: Buffer | undefined;
}

/** A request body for the channel: whole, or streamed as it arrives (an error it fails with ends the call with that error). */
export type ChannelBody = Uint8Array | string | Readable;

/**
 * Sends one request to the session's sandbox at the channel's `path` (an MCP message by default) and returns its
 * answer as it starts to arrive. An error the supervisor reports for itself (marked `x-berth-error`) is thrown as
 * that BerthError; a sandbox that does not answer is `sandbox_unavailable` (`session_ended` when berth ended it on
 * purpose meanwhile, `server_crashed` at one of its limits). `signal` aborts the call, which
 * cancels it inside the sandbox.
 */
export async function callChannel(
  lease: Lease,
  headers: RequestHeaders,
  body: ChannelBody,
  signal: AbortSignal,
  path: string = CHANNEL_MCP_PATH,
  method = 'POST',
): Promise<ChannelAnswer> {
  const out: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    if (!NOT_FORWARDED.has(name) && !name.startsWith('x-berth-')) out[name] = value;
  });
  // An authenticated principal is who the call is for, whatever user id the caller claims; an anonymous caller's
  // claim passes as it came (AgentCore's SigV4 callers name the user they act for).
  if (lease.principal.key !== ANONYMOUS.key) out[USER_ID_HEADER] = lease.principal.userId;
  let answer;
  try {
    answer = await channelClient(lease.sandbox).request({ method, path, headers: out, body: method === 'GET' ? undefined : body, signal });
  } catch (error) {
    if (signal.aborted) throw new BerthError('invalid_request', 'the client went away', { cause: error });
    // The body's own failure, such as a streamed body past its limit.
    if (isBerthError(error)) throw error;
    throw await unansweredError(lease, error);
  }
  const marked = answer.headers[BERTH_ERROR_HEADER];
  if (typeof marked === 'string') {
    const error = supervisorError(marked, answer.whole?.toString('utf8', 0, MAX_ERROR_BODY) ?? (await readCapped(answer.body, MAX_ERROR_BODY)));
    // The answer can arrive before the supervisor's own report that the server exited; the session's next
    // request must not reach this sandbox either way.
    if (error.code === 'server_crashed') lease.sandbox.retire();
    throw error;
  }
  const response = answer;
  return {
    status: answer.statusCode,
    headers: answer.headers,
    whole: answer.whole,
    get body() {
      return response.body;
    },
  };
}

/** `base` with `extra`'s headers in place of its own of the same names (lower-case). */
export function overlaidHeaders(base: RequestHeaders, extra: Readonly<Record<string, string>>): RequestHeaders {
  return {
    get: (name) => extra[name.toLowerCase()] ?? base.get(name),
    has: (name) => name.toLowerCase() in extra || base.has(name),
    forEach: (callback) => {
      base.forEach((value, name) => {
        if (!(name in extra)) callback(value, name);
      });
      for (const [name, value] of Object.entries(extra)) callback(value, name);
    },
  };
}

/** How long a failed call waits for its sandbox to close before it asks why. */
const CLOSE_WAIT_MS = 1_000;
/** How long a failed call whose sandbox is closing waits to learn how it ended (its cleanup comes first). */
const EXIT_WAIT_MS = 2_000;

/** `promise`'s value, or undefined once `ms` pass without one. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The error for a sandbox that did not answer (or stopped answering part way): when it ran into one of its limits
 * (gVisor's ends as a whole when its memory runs out), the client learns which; when berth ended it on purpose (its
 * session stopped, at its maximum lifetime, the node shutting down), that it did; otherwise it may only have
 * stopped for a moment, and `unavailable` says so.
 */
export async function unansweredError(
  lease: Lease,
  cause: unknown,
  unavailable = "the session's sandbox stopped answering; retry to get a fresh sandbox",
): Promise<BerthError> {
  let limit = lease.sandbox.limitReached();
  let closing = false;
  if (!limit) {
    closing =
      (await within(
        lease.sandbox.closing.then(() => true),
        CLOSE_WAIT_MS,
      )) ?? false;
    limit = lease.sandbox.limitReached();
  }
  if (limit) {
    return new BerthError(
      'server_crashed',
      `the session's sandbox ended at its ${limit} limit; its state is gone and the session's next request starts a fresh sandbox`,
      { cause },
    );
  }
  if (closing && (await within(lease.sandbox.exited, EXIT_WAIT_MS))?.reason === 'stopped') {
    return new BerthError(
      'session_ended',
      `session ${lease.sessionId} ended while this request was in flight (it was stopped, reached its maximum lifetime, or its node is shutting down); its state is gone, and its next request starts a fresh sandbox`,
      { cause },
    );
  }
  return new BerthError('sandbox_unavailable', unavailable, { cause });
}

/** Codes a supervisor reports for itself; any other code from a sandbox is reported as `sandbox_failed`. */
const SUPERVISOR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'server_crashed',
  'sandbox_failed',
  'sandbox_unavailable',
  'body_too_large',
  'parse_error',
  'invalid_request',
  'validation_failed',
  'request_state_expired',
  'limit_exceeded',
  'shell_limit',
  'invalid_params',
]);
/** A supervisor's error body is one short JSON-RPC error; berth reads no more of it than this. */
const MAX_ERROR_BODY = 64 * 1024;

async function readCapped(body: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max) break;
    }
  } catch {
    // what arrived is all there is
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/** The error a supervisor reported for itself (`x-berth-error: CODE`, its REST error body in `text`). */
export function supervisorError(code: string, text: string): BerthError {
  let message = 'the sandbox reported an error';
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message.slice(0, 1000);
  } catch {
    // keep the generic message
  }
  return new BerthError(isErrorCode(code) && SUPERVISOR_CODES.has(code) ? code : 'sandbox_failed', message);
}

/**
 * Answer headers from the sandbox that are not passed to the client: hop-by-hop ones, and cookies, which a
 * server must not set on berth's origin (every runtime shares it).
 */
export const NOT_RETURNED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'set-cookie', BERTH_ERROR_HEADER]);

/** Statuses whose answers carry no body: notifications' 202, and those HTTP forbids a body on. */
const NULL_BODY_STATUSES = new Set([202, 204, 205, 304]);

/**
 * The sandbox's answer as the client's, streamed: its status and headers but those not returned, with the
 * session's id. `reshape` may replace the body (and fix the headers to match). `onEnd` runs once the answer is
 * over, delivered or not: where a lease is released.
 */
export function relayAnswer(
  answer: ChannelAnswer,
  sessionId: string,
  onEnd: () => void,
  reshape?: (body: Readable, headers: AnswerHeaders) => Readable,
): NodeAnswer {
  // An answer that came whole leaves whole, with its head in one write; its exchange with the sandbox is over.
  if (!reshape && answer.whole) {
    onEnd();
    return relayWhole(answer, sessionId, answer.whole);
  }
  const headers = clientHeaders(answer, sessionId);
  const body = reshape ? reshape(answer.body, headers) : answer.body;
  body.once('close', onEnd);
  const status = clientStatus(answer);
  if (NULL_BODY_STATUSES.has(status)) {
    body.on('error', () => {});
    body.resume();
    delete headers['content-length'];
    return new NodeAnswer(status, headers, null);
  }
  return new NodeAnswer(status, headers, body);
}

/**
 * The sandbox's answer as the client's, from its body read whole: sent with its length, head and body in one write.
 * `body` is the answer's body, possibly reshaped (a sealed requestState); its length replaces the sandbox's.
 */
export function relayWhole(answer: ChannelAnswer, sessionId: string, body: Buffer): NodeAnswer {
  const headers = clientHeaders(answer, sessionId);
  const status = clientStatus(answer);
  if (NULL_BODY_STATUSES.has(status)) {
    delete headers['content-length'];
    return new NodeAnswer(status, headers, null);
  }
  headers['content-length'] = String(body.length);
  return new NodeAnswer(status, headers, body);
}

/**
 * An answer's body whole when it ends within `limit` bytes; past that, a stream of what was read and the rest,
 * to pass on as it comes. A sandbox that stops part way is `unansweredError`'s to explain.
 */
export async function readAnswerUpTo(lease: Lease, answer: ChannelAnswer, limit: number): Promise<Buffer | Readable> {
  if (answer.whole && answer.whole.length <= limit) return answer.whole;
  const { body } = answer;
  const read = await readUpTo(body, limit);
  if (read instanceof Error) {
    body.destroy();
    throw await unansweredError(lease, read);
  }
  if (Buffer.isBuffer(read)) return read;
  return Readable.from(passOn(read, body[Symbol.asyncIterator]() as AsyncIterator<Buffer>), { objectMode: false });
}

async function* passOn(read: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield* read;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

/** The answer's headers for the client (the channel gives them lower-cased): all but those not returned, with the session's id. */
function clientHeaders(answer: ChannelAnswer, sessionId: string): AnswerHeaders {
  const headers: AnswerHeaders = {};
  for (const name in answer.headers) {
    const value = answer.headers[name];
    if (value === undefined || NOT_RETURNED.has(name) || name.startsWith('x-berth-')) continue;
    headers[name] = value;
  }
  headers[SESSION_HEADER] = sessionId;
  return headers;
}

/** A server's answer can only be a final HTTP status; anything else is the sandbox's failure, not the client's. */
function clientStatus(answer: ChannelAnswer): number {
  return answer.status >= 200 && answer.status <= 599 ? answer.status : 502;
}
