import { toBerthError, type BerthError } from '../../core/errors.ts';
import type { Caller } from './caller.ts';
import { notes } from '../../observability/request-scope.ts';

/**
 * A failure as the caller's door answers it. berth's own doors answer in the wire shape of the endpoint called
 * (`own`: JSON-RPC for MCP, the REST error for invocations and commands); for a caller of AgentCore's API the error
 * goes on up, to leave as AgentCore's typed exception from its door, told apart from an agent's own failed answer.
 */
export function doorError(caller: Caller, error: unknown, own: (error: BerthError) => Response): Response {
  const berth = toBerthError(error);
  notes().error = berth.code;
  if (caller.door === 'agentcore') throw berth;
  return own(berth);
}
