import type { Readable } from 'node:stream';
import { CHANNEL_MCP_PATH } from '../../core/channel.ts';
import { BerthError, isErrorCode, type ErrorCode } from '../../core/errors.ts';
import { channelClient } from '../../sandbox/channel-client.ts';
import type { Lease } from '../../sessions/manager.ts';

const BERTH_ERROR_HEADER = 'x-berth-error';
/** Request headers that describe one hop, or that berth sets itself, and so are not passed to the sandbox. */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'content-length', 'expect']);

export interface ChannelAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/**
 * Sends one JSON-RPC message to the session's sandbox and returns its answer as it starts to arrive. An error the
 * supervisor reports for itself (marked `x-berth-error`) is thrown as that BerthError; a sandbox that does not
 * answer is `sandbox_unavailable`. `signal` aborts the call, which cancels it inside the sandbox.
 */
export async function callChannel(lease: Lease, headers: Headers, body: Uint8Array | string, signal: AbortSignal): Promise<ChannelAnswer> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!NOT_FORWARDED.has(name) && !name.startsWith('x-berth-')) out[name] = value;
  });
  let answer;
  try {
    answer = await channelClient(lease.sandbox).request({ path: CHANNEL_MCP_PATH, method: 'POST', headers: out, body, signal });
  } catch (error) {
    if (signal.aborted) throw new BerthError('invalid_request', 'the client went away', { cause: error });
    throw new BerthError('sandbox_unavailable', "the session's sandbox stopped answering; retry to get a fresh sandbox", { cause: error });
  }
  const marked = answer.headers[BERTH_ERROR_HEADER];
  if (typeof marked === 'string') {
    const error = supervisorError(marked, await readCapped(answer.body, MAX_ERROR_BODY));
    // The answer can arrive before the supervisor's own report that the server exited; the session's next
    // request must not reach this sandbox either way.
    if (error.code === 'server_crashed') lease.sandbox.retire();
    throw error;
  }
  return { status: answer.statusCode, headers: answer.headers, body: answer.body };
}

/** Codes a supervisor reports for itself; any other code from a sandbox is reported as `sandbox_failed`. */
const SUPERVISOR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'server_crashed',
  'sandbox_failed',
  'sandbox_unavailable',
  'body_too_large',
  'parse_error',
  'invalid_request',
  'request_state_expired',
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

function supervisorError(code: string, text: string): BerthError {
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
