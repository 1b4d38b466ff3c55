import { chownSync, renameSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';

/**
 * Makes `server` listen on the Unix socket `path`, owned by `owner` when given. libuv unlinks a socket's bind path
 * when its handle closes, so it binds under a scratch name and moves the file to its real name: closing berth's
 * handle later removes nothing that matters, and the file never exists at `path` with the wrong owner.
 */
export async function listenUnix(server: Server, path: string, backlog: number, owner?: { uid: number; gid: number }): Promise<void> {
  const bindPath = `${path}.bind`;
  rmSync(bindPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: bindPath, backlog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (owner) chownSync(bindPath, owner.uid, owner.gid);
  renameSync(bindPath, path);
}
