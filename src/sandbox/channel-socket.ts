import { createServer } from 'node:net';
import { listenUnix } from './unix-listen.ts';

/**
 * The channel's listening Unix socket, made by the host and handed to the supervisor as an inherited descriptor.
 * The socket file lives in a directory only berth can write and that no sandbox sees, so nothing inside a sandbox
 * can swap it for a link to another sandbox's socket: the path berth connects to is always this sandbox's.
 */
export interface ChannelSocket {
  /** The host path berth connects to. */
  readonly path: string;
  /** The listening descriptor to pass to the sandbox's first process. */
  readonly fd: number;
  /** Drops berth's own copy of the descriptor once the sandbox holds its copy; the socket file stays. */
  release(): void;
}

/** The descriptor number the supervisor finds its listening socket on. */
export const CHANNEL_FD = 5;

export async function openChannelSocket(path: string): Promise<ChannelSocket> {
  const server = createServer();
  server.on('connection', (socket) => socket.destroy());
  await listenUnix(server, path, 511);
  // net.Server keeps its descriptor on an internal handle; Node offers no public accessor for it.
  const fd = (server as unknown as { _handle: { fd: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    server.close();
    throw new Error('the channel socket has no file descriptor to pass on');
  }
  let released = false;
  return {
    path,
    fd,
    release() {
      if (released) return;
      released = true;
      server.close();
    },
  };
}
