import { Readable } from 'node:stream';
import { BerthError, isBerthError, isErrorCode, toBerthError } from '../../core/errors.ts';
import { checkSessionId } from '../../core/ids.ts';
import type { Handler, Params, Route } from '../../core/router.ts';
import { authorizerOf, type RuntimeService } from '../../control/runtimes.ts';
import type { Logger } from '../../observability/logger.ts';
import type { RuntimeRecord } from '../../store/store.ts';
import type { SessionManager } from '../../sessions/manager.ts';
import { SESSION_HEADER } from '../mcp/channel-call.ts';
import { runtimeIdOf, type AwsIdentity } from './arn.ts';
import { bufferedVerified, isAwsSigned, streamVerified, type AwsAuth } from './auth.ts';
import { readBody } from '../../core/http.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { ANONYMOUS, setPrincipal, type Principal } from '../auth/principal.ts';
import { commandEventStream } from './command-stream.ts';
import { awsErrorResponse } from './errors.ts';

const MAX_SMALL_BODY = 1024 * 1024;
/** How much of a failed answer berth reads to say what went wrong. */
const MAX_ERROR_EXCERPT = 64 * 1024;

export interface DataPlaneOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  identity: AwsIdentity;
  auth: AwsAuth;
  logger: Logger;
  authenticator: Authenticator;
  limiter: RateLimiter;
  /**
   * The MCP endpoint and the invocations endpoint, which an invocation of each kind of runtime goes to once its
   * caller is admitted here; `nativeInvocations` is berth's own invocations route, which admits its callers itself.
   */
  mcp: Handler;
  invocations: Handler;
  nativeInvocations: Handler;
}

/** AgentCore's words when a caller signs for a token runtime, or brings a token to a SigV4 one. */
const METHOD_MISMATCH = 'Authorization method mismatch. The agent is configured for a different authorization method than what was used in your request. (OAuth or SigV4)';

/**
 * AgentCore Runtime's data plane (`bedrock-agentcore`): InvokeAgentRuntime, StopRuntimeSession and
 * InvokeAgentRuntimeCommand. An invocation goes to the same endpoints berth's own API serves (the MCP endpoint for
 * an MCP runtime, the invocations endpoint for an HTTP agent), keyed by the runtime's ARN or id, `qualifier` as the
 * endpoint and `runtimeSessionId` as the session. What berth itself refuses arrives as AgentCore's typed
 * exceptions; an agent's own failure status as RuntimeClientError.
 *
 * `POST /runtimes/{x}/invocations` is also berth's own route for http agents by name: a request an AWS SDK signed
 * (or that names an ARN) is AgentCore's; any other is berth's.
 */
export function dataPlaneRoutes(options: DataPlaneOptions): Route[] {
  const { runtimes, sessions, identity, auth } = options;
  const runtimeOf = (params: Params, url: URL): RuntimeRecord =>
    runtimes.getByIdOrName(runtimeIdOf(identity, params.name as string, url.searchParams.get('accountId')));
  const sessionOf = (request: Request, required: boolean): string | undefined => {
    const given = request.headers.get(SESSION_HEADER);
    if (given === null) {
      if (required) throw new BerthError('validation_failed', `this operation needs the ${SESSION_HEADER} header (runtimeSessionId)`);
      return undefined;
    }
    return checkSessionId(given);
  };
  /**
   * AgentCore's inbound auth, checked before anything is made: a runtime with an authorizer takes its own bearer
   * credentials and never SigV4; any other takes SigV4 (berth's AWS keys) and acts as the anonymous principal. The
   * request handed back carries its body checked against the signature as it streams.
   */
  const admit = async (request: Request, params: Params, url: URL, body: 'streamed' | 'small'): Promise<{ request: Request; runtime: RuntimeRecord; principal: Principal }> => {
    const signed = isAwsSigned(request);
    const verified = (): Request | Promise<Request> => (body === 'small' ? bufferedVerified(request, url, auth, MAX_SMALL_BODY) : streamVerified(request, url, auth));
    const checked = signed ? await verified() : request;
    const runtime = runtimeOf(params, url);
    const { spec } = runtimes.resolve(runtime.name, url.searchParams.get('qualifier') ?? undefined).version;
    const authorizer = authorizerOf(spec);
    const rateLimits = spec.rateLimits;
    if (authorizer === undefined || authorizer.type === 'none' || authorizer.type === 'sigv4') {
      // Unsigned, to a SigV4 runtime: the signature check says what is missing (unless AWS auth is off).
      const admitted = signed ? checked : await verified();
      options.limiter.take(runtime.name, rateLimits, ANONYMOUS.key);
      return { request: admitted, runtime, principal: ANONYMOUS };
    }
    if (signed) throw new BerthError('forbidden', METHOD_MISMATCH);
    const principal = await options.authenticator.authenticate(request, url, runtime.name, authorizer);
    options.limiter.take(runtime.name, rateLimits, principal.key);
    setPrincipal(request, principal);
    return { request, runtime, principal };
  };
  const guarded =
    (handler: (request: Request, params: Params, url: URL) => Promise<Response>): Handler =>
    async (request, params, url) => {
      try {
        return await handler(request, params, url);
      } catch (error) {
        // An error that is not berth's own answers InternalServerException, whose message sends the caller to the logs.
        if (!isBerthError(error)) options.logger.error('request failed', { method: request.method, path: url.pathname, err: error });
        return awsErrorResponse(error);
      }
    };

  const invoke = guarded(async (request, params, url) => {
    const { request: admitted, runtime } = await admit(request, params, url, 'streamed');
    sessionOf(request, false);
    const qualifier = url.searchParams.get('qualifier') ?? undefined;
    const protocol = runtimes.resolve(runtime.name, qualifier).version.spec.protocol;
    const target = new URL(`${url.origin}/runtimes/${encodeURIComponent(runtime.name)}/${protocol === 'mcp' ? 'mcp' : 'invocations'}`);
    if (qualifier !== undefined) target.searchParams.set('endpoint', qualifier);
    const handler = protocol === 'mcp' ? options.mcp : options.invocations;
    const answer = await handler(admitted, { name: runtime.name }, target);
    return answer.status < 300 ? answer : failedAnswer(answer);
  });

  return [
    {
      method: 'POST',
      pattern: '/runtimes/:name/invocations',
      handler: (request, params, url) => (isAwsSigned(request) || (params.name as string).startsWith('arn:') ? invoke(request, params, url) : options.nativeInvocations(request, params, url)),
    },
    {
      method: 'POST',
      pattern: '/runtimes/:name/stopruntimesession',
      handler: guarded(async (request, params, url) => {
        const { request: admitted, runtime, principal } = await admit(request, params, url, 'small');
        await readBody(admitted, MAX_SMALL_BODY);
        const id = sessionOf(request, true) as string;
        // Another principal's session answers as if there were none.
        if (sessions.get(id)?.runtime !== runtime.name || !(await sessions.stop(id, principal))) {
          throw new BerthError('session_not_found', `runtime ${runtime.id} has no live session ${id}`);
        }
        return new Response('{}', { status: 200, headers: { 'content-type': 'application/json', [SESSION_HEADER]: id } });
      }),
    },
    {
      method: 'POST',
      pattern: '/runtimes/:name/commands',
      handler: guarded(async (request, params, url) => {
        const { request: admitted, runtime, principal } = await admit(request, params, url, 'small');
        const raw = await readBody(admitted, MAX_SMALL_BODY);
        const sessionId = sessionOf(request, true) as string;
        let body: unknown;
        try {
          body = JSON.parse(new TextDecoder().decode(raw));
        } catch {
          throw new BerthError('parse_error', 'the request body is not valid JSON: send {"command": "…", "timeout": 300}');
        }
        // A bare value (null, a number, a string) is valid JSON too, and has no command to read.
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          throw new BerthError('validation_failed', 'the request body must be a JSON object: send {"command": "…", "timeout": 300}');
        }
        const resolved = runtimes.resolve(runtime.name, url.searchParams.get('qualifier') ?? undefined);
        const stream = await commandEventStream({ sessions, target: resolved.target, sessionId, body, signal: request.signal, principal });
        return new Response(Readable.toWeb(stream) as ReadableStream, { status: 200, headers: stream.headers });
      }),
    },
  ];
}

/**
 * An answer of 300 or more as AgentCore's error: berth's own refusal (a berth error code in a JSON-RPC or REST error
 * body) as its exception, anything else as RuntimeClientError, naming the status and the start of the body.
 */
async function failedAnswer(answer: Response): Promise<Response> {
  const text = await excerpt(answer);
  let parsed: { error?: { code?: unknown; message?: unknown; data?: { code?: unknown } } } | undefined;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const code = parsed?.error?.data?.code ?? parsed?.error?.code;
  const message = typeof parsed?.error?.message === 'string' ? parsed.error.message : undefined;
  if (isErrorCode(code) && message !== undefined) return awsErrorResponse(new BerthError(code, message));
  return awsErrorResponse(new BerthError('sandbox_failed', `the agent answered HTTP ${answer.status}: ${text.slice(0, 1000)}`));
}

async function excerpt(answer: Response): Promise<string> {
  if (!answer.body) return '';
  const reader = answer.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_ERROR_EXCERPT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch (error) {
    if (!isBerthError(error)) return '';
    throw toBerthError(error);
  } finally {
    void reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, MAX_ERROR_EXCERPT).toString('utf8');
}
