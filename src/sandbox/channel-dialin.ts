import { createServer, type Server, type Socket } from 'node:net';
import { listenUnix } from './unix-listen.ts';

/** Unused connections a sandbox may have waiting; past this, more are closed at once, so a sandbox cannot fill berth's descriptors. */
const MAX_WAITING = 8;
/** How long berth waits for a sandbox to dial a connection it needs. */
const TAKE_TIMEOUT_MS = 10_000;

export type ChannelConnector = (callback: (error: Error | null, socket: Socket | null) => void) => void;

/**
 * The channel of a sandbox that cannot take a listening socket from its host (gVisor's sandboxed kernel): berth
 * listens, the supervisor dials and serves HTTP on each connection it opens, keeping spares waiting here. berth
 * takes a waiting connection whenever it needs a new one. The socket file lives in a directory of its own that the
 * sandbox sees read-only, so the sandbox can connect to it but never replace it.
 */
export class DialInChannel {
  readonly path: string;
  readonly #server: Server;
  readonly #waiting: Socket[] = [];
  readonly #takers: Array<(socket: Socket | Error) => void> = [];
  #closed = false;

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
    server.on('connection', (socket) => this.#arrived(socket));
  }

  /** Listens at `path`, a socket only `owner` (the sandbox's uid) may connect to. */
  static async open(path: string, owner: { uid: number; gid: number }): Promise<DialInChannel> {
    const server = createServer();
    await listenUnix(server, path, 64, owner);
    return new DialInChannel(path, server);
  }

  /** For the channel client: hands over a waiting connection, or the next one to arrive. */
  readonly connect: ChannelConnector = (callback) => {
    const socket = this.#waiting.shift();
    // Handed over on a later tick, as a connection that had to be dialed would be.
    if (socket) {
      setImmediate(() => callback(null, socket));
      return;
    }
    if (this.#closed) {
      setImmediate(() => callback(new Error('the sandbox has ended'), null));
      return;
    }
    const timer = setTimeout(() => {
      const index = this.#takers.indexOf(take);
      if (index >= 0) this.#takers.splice(index, 1);
      callback(new Error(`the sandbox opened no channel connection within ${TAKE_TIMEOUT_MS} ms`), null);
    }, TAKE_TIMEOUT_MS);
    const take = (outcome: Socket | Error): void => {
      clearTimeout(timer);
      if (outcome instanceof Error) callback(outcome, null);
      else callback(null, outcome);
    };
    this.#takers.push(take);
  };

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const socket of this.#waiting.splice(0)) socket.destroy();
    for (const take of this.#takers.splice(0)) take(new Error('the sandbox has ended'));
  }

  #arrived(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const take = this.#takers.shift();
    if (take) {
      take(socket);
      return;
    }
    if (this.#waiting.length >= MAX_WAITING) {
      socket.destroy();
      return;
    }
    this.#waiting.push(socket);
    socket.once('close', () => {
      const index = this.#waiting.indexOf(socket);
      if (index >= 0) this.#waiting.splice(index, 1);
    });
    socket.on('error', () => {});
  }
}
