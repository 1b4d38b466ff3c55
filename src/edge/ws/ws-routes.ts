import type { Answer } from '../../core/answer.ts';
import { errorResponse } from '../../core/http.ts';
import type { Inbound } from '../../core/inbound.ts';
import type { Params, Route } from '../../core/router.ts';
import { isAwsSigned, isPresigned } from '../agentcore/auth.ts';
import { awsErrorResponse } from '../agentcore/errors.ts';
import type { CallerAdmission } from '../pipeline/admission.ts';
import type { Caller } from '../pipeline/caller.ts';
import { withProtocolBearer } from './subprotocol-bearer.ts';

export interface AgentRoutesOptions {
  admission: CallerAdmission;
  /** The WebSocket doors (./websocket-door.ts). */
  webSocket: (caller: Caller, door: 'ws' | 'shell') => Promise<Answer>;
  /** The agent card door (../agent-card.ts). */
  agentCard: (caller: Caller) => Promise<Answer>;
  /** On a node of a cluster: the request passed on to the node that holds its session, or undefined to serve it here. */
  toOwner?: (caller: Caller) => Promise<Answer | undefined>;
}

/**
 * The agent doors that AgentCore serves outside its SDK's model, on both APIs: `/runtimes/{x}/ws` (an agent's
 * WebSocket), `/runtimes/{x}/ws/shells` (a shell) and `/runtimes/{x}/invocations/.well-known/agent-card.json` (an
 * A2A agent's card; in the model, as GetAgentCard). A request signed for AWS (in its headers or, presigned, its
 * query) or naming a runtime by ARN is AgentCore's and admitted by its rules; any other is berth's own. A token may
 * come as a WebSocket subprotocol, for clients that cannot set headers. In a cluster, a request whose session another
 * node holds goes there once admitted, a WebSocket's connection joined to that node's.
 */
export function agentRoutes(options: AgentRoutesOptions): Route[] {
  const { admission } = options;
  const admitted =
    (serve: (caller: Caller) => Promise<Answer>) =>
    async (arrived: Inbound, params: Params): Promise<Answer> => {
      const inbound = withProtocolBearer(arrived);
      const aws = isAwsSigned(inbound) || isPresigned(inbound.url) || (params.name as string).startsWith('arn:');
      try {
        const caller = aws ? await admission.agentcore(inbound.request, params, inbound.url, 'none', inbound) : await admission.native(inbound, params);
        return (await options.toOwner?.(caller)) ?? (await serve(caller));
      } catch (error) {
        // Refused before any door: in the API's own error shape.
        return aws ? awsErrorResponse(error) : errorResponse(error);
      }
    };
  return [
    { method: 'GET', pattern: '/runtimes/:name/ws', inbound: admitted((caller) => options.webSocket(caller, 'ws')) },
    { method: 'GET', pattern: '/runtimes/:name/ws/shells', inbound: admitted((caller) => options.webSocket(caller, 'shell')) },
    { method: 'GET', pattern: '/runtimes/:name/invocations/.well-known/agent-card.json', inbound: admitted(options.agentCard) },
  ];
}
