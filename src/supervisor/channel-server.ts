import { connect, type Socket } from 'node:net';
import { CHANNEL_HEALTH_PATH, CHANNEL_SERVER_IDLE_MS, type SupervisorSpec } from '../core/channel.ts';
import { http1Server, serveHttp1, type Http1Handler, type Http1ServerOptions, type Http1ServerRequest } from '../core/http1-server.ts';
import { replyError } from './reply.ts';

export type ChannelHandler = Http1Handler;
export type { Http1ServerRequest as ChannelRequest, Http1ServerResponse as ChannelResponse } from '../core/http1-server.ts';

/** What the channel serves, by `METHOD /path` (such as `POST /mcp`). */
export type ChannelRoutes = Map<string, ChannelHandler>;

/** Between failed dials; the host's socket only goes away with the sandbox, so failures are brief or final. */
const REDIAL_DELAY_MS = 50;

/**
 * The supervisor's side of the channel: HTTP, on the Unix socket the host made and passed in, or on connections the
 * supervisor dials to the host (see SupervisorSpec.channel). Calls may run for hours (listen streams, long tools),
 * so no request timeout applies here; the host decides when a call ends. `onRequest` is told when each request
 * begins, and the function it returns when that request's answer is over.
 */
export async function serveChannel(
  channel: SupervisorSpec['channel'] | HostChannel,
  routes: ChannelRoutes,
  health: () => Record<string, unknown>,
  log: (line: string) => void,
  onRequest: () => () => void = () => () => {},
): Promise<{ close(): void }> {
  const handler = channelHandler(routes, health, log, onRequest);
  if ('fd' in channel || 'path' in channel) {
    const server = http1Server(handler, { idleMs: CHANNEL_SERVER_IDLE_MS, headersTimeoutMs: 30_000 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen('fd' in channel ? { fd: channel.fd } : { path: channel.path }, () => resolve());
    });
    const open = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    });
    return {
      close: () => {
        server.close();
        for (const socket of open) socket.destroy();
      },
    };
  }
  // A dialled connection waits unused until the host needs one, however long that is: no headers timeout.
  const dialled = new DialledChannel(handler, { idleMs: CHANNEL_SERVER_IDLE_MS, headersTimeoutMs: 0 }, channel.dial, channel.spares);
  await dialled.start();
  return { close: () => dialled.close() };
}

/** A channel served from berth's own process (host.ts): a Unix socket at `path`, which only berth reaches. */
export interface HostChannel {
  path: string;
}

function channelHandler(
  routes: ChannelRoutes,
  health: () => Record<string, unknown>,
  log: (line: string) => void,
  onRequest: () => () => void,
): ChannelHandler {
  const served = [...routes.keys(), `GET ${CHANNEL_HEALTH_PATH}`].join(', ');
  return (req, res) => {
    res.once('close', onRequest());
    // Routes are by path; a query is the handler's to read.
    const query = req.url.indexOf('?');
    const path = query === -1 ? req.url : req.url.slice(0, query);
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
    req.discard();
    if (path === CHANNEL_HEALTH_PATH && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(health()));
      return;
    }
    replyError(res, 'not_found', `the supervisor serves ${served}, not ${req.method} ${path}`);
  };
}

/**
 * Keeps `spares` connections to the host open and unused. The host takes a spare whenever it needs a connection;
 * its first request makes the connection no longer spare, and another is dialled in its place, as is one for a
 * spare that closes.
 */
class DialledChannel {
  readonly #handler: ChannelHandler;
  readonly #options: Http1ServerOptions;
  readonly #path: string;
  readonly #spares: number;
  readonly #unused = new Set<Socket>();
  readonly #sockets = new Set<Socket>();
  #closed = false;

  constructor(handler: ChannelHandler, options: Http1ServerOptions, path: string, spares: number) {
    this.#handler = (req: Http1ServerRequest, res) => {
      if (this.#unused.delete(req.socket)) this.#topUp();
      handler(req, res);
    };
    this.#options = options;
    this.#path = path;
    this.#spares = spares;
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

  /** Dials no more and closes the connections. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  #topUp(): void {
    while (!this.#closed && this.#unused.size < this.#spares) {
      this.#dial().catch(() => setTimeout(() => this.#topUp(), REDIAL_DELAY_MS).unref());
      // #dial adds the socket at once; a failed one removes itself and schedules the next attempt.
    }
  }

  #dial(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.#path);
      this.#unused.add(socket);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      socket.once('error', (error) => {
        if (this.#unused.delete(socket)) reject(error);
      });
      socket.once('connect', () => {
        serveHttp1(socket, this.#handler, this.#options);
        resolve();
      });
      socket.once('close', () => {
        if (this.#unused.delete(socket)) this.#topUp();
      });
    });
  }
}
