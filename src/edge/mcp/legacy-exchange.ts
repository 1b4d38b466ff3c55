import { BerthError, isBerthError } from '../../core/errors.ts';
import { META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL, META_PROTOCOL_VERSION, MODERN_VERSION } from '../../mcp/classify.ts';
import type { JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import type { Lease } from '../../sessions/manager.ts';
import { readAnswer } from './answer-reader.ts';
import { callChannel, SESSION_HEADER, unansweredError } from './channel-call.ts';
import type { ClientSession } from './legacy-clients.ts';
import { headerNameOf } from './legacy-kept.ts';
import type { SseOut } from './sse-out.ts';
import { noTracing, type Tracing } from '../../observability/tracing.ts';

/** One 2026-07-28 exchange with the session's sandbox, on behalf of a legacy client. */
export async function modernCall(
  lease: Lease,
  client: Pick<ClientSession, 'session' | 'capabilities' | 'clientInfo'> & { logLevel?: string },
  call: JsonRpcRequest,
  signal: AbortSignal,
  onNotification: (message: JsonRpcMessage) => void | Promise<void>,
  tracing: Tracing = noTracing,
): Promise<JsonRpcResponse> {
  const params = call.params ?? {};
  const meta: Record<string, unknown> = {
    ...((params._meta as Record<string, unknown> | undefined) ?? {}),
    [META_PROTOCOL_VERSION]: MODERN_VERSION,
    [META_CLIENT_CAPABILITIES]: client.capabilities,
  };
  if (client.clientInfo !== undefined) meta[META_CLIENT_INFO] = client.clientInfo;
  if (client.logLevel !== undefined) meta[META_LOG_LEVEL] = client.logLevel;
  // As for a 2026-07-28 client's call (endpoint.ts): the server's spans join the trace under this call's.
  const span = tracing.start('berth.sandbox.call', { 'mcp.method.name': call.method, 'mcp.session.id': client.session }, { kind: 'client' });
  const context = tracing.enabled ? span.propagation() : undefined;
  if (context) Object.assign(meta, context);
  const body: JsonRpcRequest = { jsonrpc: '2.0', id: call.id, method: call.method, params: { ...params, _meta: meta } };
  const headers = new Headers({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN_VERSION,
    'mcp-method': call.method,
    [SESSION_HEADER]: client.session,
  });
  const name = params.name ?? params.uri;
  if (typeof name === 'string') headers.set('mcp-name', headerNameOf(name));
  for (const [header, value] of Object.entries(context ?? {})) headers.set(header, value);
  try {
    const answer = await callChannel(lease, headers, JSON.stringify(body), signal);
    try {
      return await readAnswer(answer, onNotification);
    } catch (error) {
      // An answer cut part way through is the sandbox going (stopped, crashed, at a limit), told as callChannel tells it.
      if (isBerthError(error)) throw error;
      if (signal.aborted) throw new BerthError('invalid_request', 'the client went away', { cause: error });
      throw await unansweredError(lease, error);
    }
  } catch (error) {
    span.fail(error);
    throw error;
  } finally {
    span.end();
  }
}

/** Sends each input request to the client as a real request and waits for all the answers. */
export function askClient(
  client: ClientSession,
  out: SseOut,
  requests: Record<string, { method: string; params?: Record<string, unknown> }>,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const entries = Object.entries(requests);
  return new Promise((resolve, reject) => {
    const answers: Record<string, unknown> = {};
    let left = entries.length;
    const ids: string[] = [];
    const timer = setTimeout(() => fail(new BerthError('request_state_expired', "the client did not answer the server's questions in time")), timeoutMs);
    const onAbort = (): void => fail(new Error('aborted'));
    const settle = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      settle();
      for (const id of ids) client.asked.delete(id);
      reject(error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (left === 0) {
      settle();
      resolve(answers);
      return;
    }
    for (const [key, input] of entries) {
      const id = `berth-${client.nextAsk++}`;
      ids.push(id);
      client.asked.set(id, (response) => {
        // A declined or failed question is still an answer: the server decides what it means.
        answers[key] = response.result ?? { error: response.error };
        if (--left === 0) {
          settle();
          resolve(answers);
        }
      });
      void out.send(
        input.params === undefined ? { jsonrpc: '2.0', id, method: input.method } : { jsonrpc: '2.0', id, method: input.method, params: input.params },
      );
    }
  });
}
