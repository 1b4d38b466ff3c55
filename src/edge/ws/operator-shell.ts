import type { Answer } from '../../core/answer.ts';
import { errorResponse } from '../../core/http.ts';
import type { Route } from '../../core/router.ts';
import { notes } from '../../observability/request-scope.ts';
import type { SessionManager } from '../../sessions/manager.ts';
import { admitAdmin, type AdminGuardOptions } from '../auth/admin.ts';
import { checkHandshake, shellIdOf, type sandboxSockets } from './websocket-door.ts';

/**
 * `GET /v1/sessions/{id}/shell?shellId=…`: an operator's shell into a live session of this node (`berth shell`),
 * with an admin key. It acts as the session's own principal and never starts a session; the shell is the same as a
 * runtime's caller gets (websocket-door.ts), and counts among the session's ten.
 */
export function operatorShellRoute(options: { sessions: SessionManager; guard: AdminGuardOptions; sockets: ReturnType<typeof sandboxSockets> }): Route {
  const { sessions, guard, sockets } = options;
  return {
    method: 'GET',
    pattern: '/v1/sessions/:id/shell',
    inbound: async (inbound, params): Promise<Answer> => {
      notes().door = 'shell';
      try {
        await admitAdmin(inbound.request, inbound.url, guard);
        checkHandshake(inbound);
        const id = params.id as string;
        notes().session = id;
        return await sockets(inbound, shellIdOf(inbound.url), () => sessions.acquireAsOwner(id));
      } catch (error) {
        return errorResponse(error);
      }
    },
  };
}
