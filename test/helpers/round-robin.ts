import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RoundRobin {
  url: string;
  /** How many requests each backend was sent, by its URL. */
  sent: Map<string, number>;
  close(): Promise<void>;
}

/**
 * A plain load balancer for tests, as any would be in front of a cluster: each request goes whole to the next
 * backend in turn, its Host kept (a SigV4 signature covers it), the answer streamed back, with no idea of
 * sessions; a backend that refuses the connection is skipped for the next one (as a balancer's health check
 * would), and only when all refuse does the client get 502.
 */
export async function startRoundRobin(backends: readonly string[]): Promise<RoundRobin> {
  let next = 0;
  const sent = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      const body = Buffer.concat(chunks);
      const attempt = (tries: number): void => {
        const backend = new URL(backends[next++ % backends.length] as string);
        sent.set(backend.origin, (sent.get(backend.origin) ?? 0) + 1);
        const out = request({ host: backend.hostname, port: backend.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.once('error', () => {
          if (tries + 1 < backends.length && !res.headersSent) attempt(tries + 1);
          else if (!res.headersSent) res.writeHead(502).end();
          else res.destroy();
        });
        out.end(body);
      };
      attempt(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
