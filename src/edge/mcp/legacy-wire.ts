import { BerthError } from '../../core/errors.ts';
import { META_SERVER_INFO, META_SUBSCRIPTION_ID } from '../../mcp/classify.ts';
import type { JsonRpcMessage, JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { SESSION_HEADER } from './channel-call.ts';
import type { ClientSession } from './legacy-clients.ts';

/** Modern-only result fields a stateful-era client has no use for. */
const MODERN_RESULT_FIELDS = ['resultType', 'ttlMs', 'cacheScope'];

export function sessionGone(): BerthError {
  return new BerthError(
    'session_not_found',
    'Session not found: this Mcp-Session-Id is unknown or has ended; send initialize without it to start a new session',
  );
}

export function withoutParams(params: Record<string, unknown>, names: string[]): Record<string, unknown> {
  if (!names.some((name) => name in params)) return params;
  const copy = { ...params };
  for (const name of names) delete copy[name];
  return copy;
}

export function json(client: ClientSession, message: JsonRpcResponse): Response {
  return new Response(JSON.stringify(message), { status: 200, headers: { 'content-type': 'application/json', ...sessionHeaders(client) } });
}

/**
 * A legacy client's MCP session, and the berth session it is in, which AgentCore's SDK reads as `runtimeSessionId`
 * (it reads no Mcp-Session-Id).
 */
export function sessionHeaders(client: Pick<ClientSession, 'id' | 'session'>): Record<string, string> {
  return { 'mcp-session-id': client.id, [SESSION_HEADER]: client.session };
}

export function toLegacyResponse(response: JsonRpcResponse): JsonRpcResponse {
  if (!response.result) return response;
  const result = { ...response.result };
  for (const field of MODERN_RESULT_FIELDS) delete result[field];
  // A stateful-era client learned the server's identity at initialize; in a result's _meta it is noise that some
  // clients pass on into what the tool returned.
  const meta = result._meta as Record<string, unknown> | undefined;
  if (meta && META_SERVER_INFO in meta) {
    const { [META_SERVER_INFO]: _serverInfo, ...rest } = meta;
    if (Object.keys(rest).length === 0) delete result._meta;
    else result._meta = rest;
  }
  return { ...response, result };
}

export function withoutSubscriptionId(message: JsonRpcMessage): JsonRpcMessage {
  const params = 'params' in message ? message.params : undefined;
  const meta = params?._meta as Record<string, unknown> | undefined;
  if (!meta || !(META_SUBSCRIPTION_ID in meta)) return message;
  const { [META_SUBSCRIPTION_ID]: _id, ...rest } = meta;
  return { ...message, params: { ...params, _meta: rest } } as JsonRpcMessage;
}
