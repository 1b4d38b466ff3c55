import { connect, createServer } from 'node:net';

/**
 * The sandbox's end of its egress: a loopback port (the one HTTP_PROXY names) whose every connection is passed,
 * byte for byte, to berth's egress proxy on the host's Unix socket. The proxy decides; nothing here does.
 */
export function forwardEgress(egress: { socket: string; port: number }): Promise<void> {
  const server = createServer((client) => {
    const upstream = connect(egress.socket);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`the egress proxy's port 127.0.0.1:${egress.port} is taken: ${error.message}`)));
    server.listen(egress.port, '127.0.0.1', () => resolve());
  });
}
