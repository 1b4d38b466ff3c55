import { Readable } from 'node:stream';
import { BerthError, isBerthError, toBerthError } from '../../core/errors.ts';
import type { Handler, Params, WebRoute } from '../../core/router.ts';
import { toResponse, type Answer } from '../../core/answer.ts';
import type { RuntimeService } from '../../control/runtimes.ts';
import type { Logger } from '../../observability/logger.ts';
import type { SessionLeases } from '../pipeline/lease.ts';
import type { SessionManager } from '../../sessions/manager.ts';
import { SESSION_HEADER } from '../mcp/channel-call.ts';
import { isAwsSigned } from './auth.ts';
import { readBody } from '../../core/http.ts';
import { MAX_SMALL_BODY, type CallerAdmission } from '../pipeline/admission.ts';
import type { Caller, CallerHandler } from '../pipeline/caller.ts';
import { requiredSession } from '../pipeline/session-key.ts';
import { commandEventStream } from './command-stream.ts';
import { awsErrorResponse } from './errors.ts';

/** How much of a failed answer berth reads to say what went wrong. */
const MAX_ERROR_EXCERPT = 64 * 1024;

export interface DataPlaneOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  /** The pipeline's lease step, where the session's sandbox is taken. */
  leases: SessionLeases;
  logger: Logger;
  /** AgentCore's admission: SigV4 or the runtime's own authorizer, its rate limit, the runtime by ARN or id. */
  admission: CallerAdmission;
  /**
   * The MCP endpoint and the invocations endpoint, which an invocation of each kind of runtime goes to once its
   * caller is admitted here; `nativeInvocations` is berth's own invocations route, which admits its callers itself.
   */
  mcp: CallerHandler;
  invocations: CallerHandler;
  nativeInvocations: Handler;
  /** On a node of a cluster: the request passed on to the node that holds its session, or undefined to serve it here. */
  toOwner?: (caller: Caller) => Promise<Answer | undefined>;
}

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
export function dataPlaneRoutes(options: DataPlaneOptions): WebRoute[] {
  const { runtimes, sessions } = options;
  // Every operation is admitted here, then passed on whole to the node holding its session, if another one does:
  // that node's answer is already in AgentCore's words.
  const admitted = async (request: Request, params: Params, url: URL, body: 'streamed' | 'small'): Promise<Caller | Answer> => {
    const caller = await options.admission.agentcore(request, params, url, body);
    return (await options.toOwner?.(caller)) ?? caller;
  };
  const isAnswer = (value: Caller | Answer): value is Answer => 'status' in value;
  const guarded =
    (handler: (request: Request, params: Params, url: URL) => Promise<Answer>): Handler =>
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
    const caller = await admitted(request, params, url, 'streamed');
    if (isAnswer(caller)) return caller;
    const protocol = caller.resolved?.version.spec.protocol;
    const answer = await (protocol === 'mcp' ? options.mcp : options.invocations)(caller);
    return answer.status < 300 ? answer : agentFailure(toResponse(answer));
  });

  return [
    {
      method: 'POST',
      pattern: '/runtimes/:name/invocations',
      handler: (request, params, url) =>
        isAwsSigned(request) || (params.name as string).startsWith('arn:') ? invoke(request, params, url) : options.nativeInvocations(request, params, url),
    },
    {
      method: 'POST',
      pattern: '/runtimes/:name/stopruntimesession',
      handler: guarded(async (request, params, url) => {
        const caller = await admitted(request, params, url, 'small');
        if (isAnswer(caller)) return caller;
        await readBody(caller.request, MAX_SMALL_BODY);
        const id = requiredSession(caller, 'StopRuntimeSession');
        // Another principal's session answers as if there were none.
        if (sessions.get(id)?.runtime !== caller.runtime || !(await sessions.stop(id, caller.principal))) {
          throw new BerthError('session_not_found', `runtime ${caller.resolved?.runtime.id ?? caller.runtime} has no live session ${id}`);
        }
        return new Response('{}', { status: 200, headers: { 'content-type': 'application/json', [SESSION_HEADER]: id } });
      }),
    },
    {
      method: 'POST',
      pattern: '/runtimes/:name/commands',
      handler: guarded(async (request, params, url) => {
        const caller = await admitted(request, params, url, 'small');
        if (isAnswer(caller)) return caller;
        const raw = await readBody(caller.request, MAX_SMALL_BODY);
        const sessionId = requiredSession(caller, 'InvokeAgentRuntimeCommand');
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
        const resolved = caller.resolved ?? (await runtimes.resolve(caller.runtime, caller.endpoint));
        const stream = await commandEventStream({
          leases: options.leases,
          target: resolved.target,
          sessionId,
          body,
          signal: caller.signal,
          principal: caller.principal,
        });
        return new Response(Readable.toWeb(stream) as ReadableStream, { status: 200, headers: stream.headers });
      }),
    },
  ];
}

/**
 * An answer of 300 or more that reaches here is the agent's own (berth's refusals leave as AgentCore's exceptions
 * where they happen): RuntimeClientError, naming the status and the start of the body.
 */
async function agentFailure(answer: Response): Promise<Response> {
  const text = await excerpt(answer);
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
