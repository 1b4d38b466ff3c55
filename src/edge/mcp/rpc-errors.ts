import { jsonRpcErrorBody, type BerthError, type JsonRpcId } from '../../core/errors.ts';
import { errorHeaders } from '../../core/http.ts';
import { SESSION_HEADER } from './channel-call.ts';

/** An error as an MCP endpoint answers it: a JSON-RPC error with the registry's status, and the session when known. */
export function rpcErrorResponse(error: BerthError, id: JsonRpcId, sessionId?: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...errorHeaders(error) };
  if (sessionId !== undefined && error.code !== 'invalid_session_id') headers[SESSION_HEADER] = sessionId;
  return new Response(JSON.stringify(jsonRpcErrorBody(error, id)), { status: error.status, headers });
}
