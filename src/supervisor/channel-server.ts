import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { CHANNEL_HEALTH_PATH, CHANNEL_SERVER_IDLE_MS, type SupervisorSpec } from '../core/channel.ts';
import { replyError } from './reply.ts';

export type ChannelHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the channel serves, by `METHOD /path` (such as `POST /mcp`). */
export type ChannelRoutes = Map<string, ChannelHandler>;

/** Between failed dials; the host's socket only goes away with the sandbox, so failures are brief or final. */
const REDIAL_DELAY_MS = 50;

/**
 * The supervisor's side of the channel: HTTP, on the Unix socket the host made and passed in, or on connections the
 * supervisor dials to the host (see SupervisorSpec.channel). Calls may run for hours (listen streams, long tools),
 * so no request timeout applies here; the host decides when a call ends.
 */
export async function serveChannel(
  channel: SupervisorSpec['channel'],
  routes: ChannelRoutes,
  health: () => Record<string, unknown>,
  log: (line: string) => void,
  onRequest: () => void = () => {},
): Promise<Server> {
  const server = channelServer(routes, health, log, onRequest);
  if ('fd' in channel) {
    server.headersTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd: channel.fd }, () => resolve());
    });
    return server;
  }
  // A dialled connection waits unused until the host needs one, however long that is: no headers timeout.
  server.headersTimeout = 0;
  await new DialledChannel(server, channel.dial, channel.spares).start();
  return server;
}

function channelServer(routes: ChannelRoutes, health: () => Record<string, unknown>, log: (line: string) => void, onRequest: () => void): Server {
  const served = [...routes.keys(), `GET ${CHANNEL_HEALTH_PATH}`].join(', ');
  return createServer({ requestTimeout: 0, keepAliveTimeout: CHANNEL_SERVER_IDLE_MS }, (req, res) => {
    onRequest();
    const path = req.url ?? '';
    const handler = routes.get(`${req.method} ${path}`);
    if (handler) {
      try {
        handler(req, res);
      } catch (error) {
        // One request's fault, answered and logged; the supervisor and the session's other calls go on.
        const why = error instanceof Error ? error.message : String(error);
        log(`berth: the supervisor failed on a channel request, which was refused: ${error instanceof Error ? (error.stack ?? why) : why}`);
        replyError(res, 'sandbox_failed', `berth's supervisor could not handle this request (${why}); the session and its other calls go on`);
      }
      return;
    }
    if (path === CHANNEL_HEALTH_PATH && req.method === 'GET') {
      const body = JSON.stringify(health());
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    replyError(res, 'not_found', `the supervisor serves ${served}, not ${req.method} ${path}`);
  });
}

/**
 * Keeps `spares` connections to the host open and unused. The host takes a spare whenever it needs a connection;
 * its first request makes the connection no longer spare, and another is dialled in its place, as is one for a
 * spare that closes.
 */
class DialledChannel {
  readonly #server: Server;
  readonly #path: string;
  readonly #spares: number;
  readonly #unused = new Set<Socket>();

  constructor(server: Server, path: string, spares: number) {
    this.#server = server;
    this.#path = path;
    this.#spares = spares;
    server.on('request', (req: IncomingMessage) => {
      if (this.#unused.delete(req.socket as Socket)) this.#topUp();
    });
  }

  /** Resolves once the first spares are connected; rejects when the host's socket cannot be reached at all. */
  async start(): Promise<void> {
    const first = await Promise.allSettled(Array.from({ length: this.#spares }, () => this.#dial()));
    const failure = first.find((outcome) => outcome.status === 'rejected');
    if (failure && first.every((outcome) => outcome.status === 'rejected')) {
      throw new Error(`the supervisor cannot reach berth's channel at ${this.#path}: ${(failure.reason as Error).message}`);
    }
    this.#topUp();
  }

  #topUp(): void {
    while (this.#unused.size < this.#spares) {
      this.#dial().catch(() => setTimeout(() => this.#topUp(), REDIAL_DELAY_MS));
      // #dial adds the socket at once; a failed one removes itself and schedules the next attempt.
    }
  }

  #dial(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.#path);
      this.#unused.add(socket);
      socket.once('error', (error) => {
        if (this.#unused.delete(socket)) reject(error);
      });
      socket.once('connect', () => {
        this.#server.emit('connection', socket);
        resolve();
      });
      socket.once('close', () => {
        if (this.#unused.delete(socket)) this.#topUp();
      });
    });
  }
}
