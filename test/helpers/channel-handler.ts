import type { AddressInfo, Socket } from 'node:net';
import { http1Server, type Http1Handler } from '../../src/core/http1-server.ts';

export interface ServedHandler {
  /** The handler's URL, at `path`. */
  url: string;
  /** Stops listening and closes every connection. */
  close(): void;
}

/** Serves a supervisor handler on 127.0.0.1 with the channel's own server, as the supervisor does in a sandbox. */
export async function serveHandler(handler: Http1Handler, path = '/mcp'): Promise<ServedHandler> {
  const server = http1Server(handler, { idleMs: 60_000, headersTimeoutMs: 30_000 });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
