import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CHANNEL_HEALTH_PATH } from '../core/channel.ts';
import { replyError } from './reply.ts';

export type ChannelHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the channel serves, by `METHOD /path` (such as `POST /mcp`). */
export type ChannelRoutes = Map<string, ChannelHandler>;

/**
 * The supervisor's side of the channel: HTTP on the Unix socket the host made and passed in as `fd`. Calls may run for hours (listen
 * streams, long tools), so no request timeout applies here; the host decides when a call ends.
 */
export function listenChannel(fd: number, routes: ChannelRoutes, health: () => Record<string, unknown>): Promise<Server> {
  const served = [...routes.keys(), `GET ${CHANNEL_HEALTH_PATH}`].join(', ');
  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => {
    const path = req.url ?? '';
    const handler = routes.get(`${req.method} ${path}`);
    if (handler) {
      handler(req, res);
      return;
    }
    if (path === CHANNEL_HEALTH_PATH && req.method === 'GET') {
      const body = JSON.stringify(health());
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    replyError(res, 'not_found', `the supervisor serves ${served}, not ${req.method} ${path}`);
  });
  server.headersTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => resolve(server));
  });
}
