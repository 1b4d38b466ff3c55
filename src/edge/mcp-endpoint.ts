import { CHANNEL_MCP_PATH } from '../core/channel.ts';
import { BerthError, isErrorCode, jsonRpcErrorBody, toBerthError, type JsonRpcId } from '../core/errors.ts';
import { checkSessionId, mintSessionId } from '../core/ids.ts';
import type { Params } from '../core/router.ts';
import type { RuntimeService } from '../control/runtimes.ts';
import { asJsonRpcMessage, type JsonRpcMessage } from '../mcp/jsonrpc.ts';
import type { Logger } from '../observability/logger.ts';
import { channelClient } from '../sandbox/channel-client.ts';
import { readRequestBody, streamingResponse } from './node-bodies.ts';
import type { Lease, SessionManager } from '../sessions/manager.ts';

export const SESSION_HEADER = 'x-amzn-bedrock-agentcore-runtime-session-id';
const BERTH_ERROR_HEADER = 'x-berth-error';

/** Request headers that describe one hop, or that berth sets itself, and so are not passed to the sandbox. */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'content-length', 'expect']);
/** Answer headers from the sandbox that are not passed to the client. */
const NOT_RETURNED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', BERTH_ERROR_HEADER]);

export interface McpEndpointOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  maxBodyBytes: number;
  logger: Logger;
}

/**
 * `POST /runtimes/{name}/mcp` and `POST /runtimes/{name}/sessions/{id}/mcp`: reads and checks one JSON-RPC
 * message, finds the session's sandbox (creating it on first use), and streams the sandbox's answer back as it
 * comes. The request body is read whole because berth must check it before any sandbox sees it; it is bounded by
 * `maxBodyBytes`. The answer is never collected: SSE events reach the client as the server sends them, and a client
 * that goes away cancels the call inside the sandbox.
 */
export function createMcpEndpoint(options: McpEndpointOptions) {
  const { runtimes, sessions, maxBodyBytes, logger } = options;

  return async (request: Request, params: Params, url: URL): Promise<Response> => {
    let rpcId: JsonRpcId = null;
    let sessionId: string | undefined;
    let lease: Lease | undefined;
    try {
      const type = request.headers.get('content-type') ?? '';
      if (!type.includes('application/json')) {
        throw new BerthError('unsupported_media_type', 'MCP requests are JSON: send Content-Type: application/json');
      }
      const body = await readRequestBody(request, maxBodyBytes);
      const message = parseMessage(body);
      if ('id' in message && message.id !== undefined) rpcId = message.id;

      sessionId = sessionIdFor(request, params);
      const resolved = runtimes.resolve(params.name as string, url.searchParams.get('endpoint') ?? undefined);
      if (resolved.version.spec.protocol !== 'mcp') {
        throw new BerthError('invalid_request', `runtime "${resolved.runtime.name}" is an http agent: call POST /runtimes/${resolved.runtime.name}/invocations`);
      }
      lease = await sessions.acquire(sessionId, resolved.target);
      return await forward(request, body, lease, rpcId, logger);
    } catch (error) {
      lease?.release();
      return rpcErrorResponse(toBerthError(error), rpcId, sessionId);
    }
  };
}

function parseMessage(body: Uint8Array): JsonRpcMessage {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new BerthError('parse_error', `request body is not valid JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(value)) throw new BerthError('invalid_request', 'JSON-RPC batches are not supported; send one message per request');
  const message = asJsonRpcMessage(value);
  if (!message) throw new BerthError('invalid_request', 'request body is not a JSON-RPC 2.0 request, notification or response');
  return message;
}

/** The session header wins over the URL only if they agree; with neither, berth mints a new session id. */
function sessionIdFor(request: Request, params: Params): string {
  const header = request.headers.get(SESSION_HEADER);
  const inUrl = params.sessionId;
  if (header !== null && inUrl !== undefined && header !== inUrl) {
    throw new BerthError('invalid_session_id', `the session id in the URL and the ${SESSION_HEADER} header differ; send one, or the same in both`);
  }
  const given = header ?? inUrl;
  return given === undefined ? mintSessionId() : checkSessionId(given);
}

async function forward(request: Request, body: Uint8Array, lease: Lease, rpcId: JsonRpcId, logger: Logger): Promise<Response> {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    if (!NOT_FORWARDED.has(name) && !name.startsWith('x-berth-')) headers[name] = value;
  });
  let answer;
  try {
    answer = await channelClient(lease.sandbox).request({
      path: CHANNEL_MCP_PATH,
      method: 'POST',
      headers,
      body,
      signal: request.signal,
    });
  } catch (error) {
    if (request.signal.aborted) {
      lease.release();
      return new Response(null, { status: 499 });
    }
    logger.warn('channel request failed', { session: lease.sessionId, err: error });
    throw new BerthError('sandbox_unavailable', "the session's sandbox stopped answering; retry to get a fresh sandbox", { cause: error });
  }

  const marked = answer.headers[BERTH_ERROR_HEADER];
  if (typeof marked === 'string') {
    // The supervisor's own error, in the REST shape: re-render it as this request's JSON-RPC error.
    const text = await answer.body.text().catch(() => '');
    lease.release();
    return rpcErrorResponse(supervisorError(marked, text), rpcId, lease.sessionId);
  }

  const out = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value === undefined || NOT_RETURNED.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, value);
  }
  out.set(SESSION_HEADER, lease.sessionId);
  const stream = answer.body;
  stream.once('close', () => lease.release());
  if (answer.statusCode === 202 || answer.statusCode === 204) {
    stream.resume();
    return new Response(null, { status: answer.statusCode, headers: out });
  }
  return streamingResponse(stream, { status: answer.statusCode, headers: out });
}

function supervisorError(code: string, text: string): BerthError {
  let message = 'the sandbox reported an error';
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message.slice(0, 1000);
  } catch {
    // keep the generic message
  }
  return new BerthError(isErrorCode(code) ? code : 'sandbox_failed', message);
}

export function rpcErrorResponse(error: BerthError, id: JsonRpcId, sessionId?: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter);
  if (sessionId !== undefined && error.code !== 'invalid_session_id') headers[SESSION_HEADER] = sessionId;
  return new Response(JSON.stringify(jsonRpcErrorBody(error, id)), { status: error.status, headers });
}
