/**
 * The floor of berth's edge: the least a Node process can do to pass an MCP call on, a node:http server that reads
 * each request and sends it over an undici pool to the same server berth's sandbox runs, then answers with what came
 * back, whole. No isolation, no sessions, no checks. Its CPU per call, measured in the same run as berth's, is the
 * figure berth's edge is set beside (`npm run bench`): what this machine charges any Node proxy for a call.
 *
 * Run as a script (`node bench/floor-proxy.ts PORT UPSTREAM`), it is the proxy.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { Pool } from 'undici';

/** Hop-by-hop headers, which a proxy does not pass on. */
const HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);

function serve(port: number, upstream: string): void {
  const pool = new Pool(upstream, { connections: 64 });
  createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      const headers: Record<string, string | string[]> = {};
      for (const name in req.headers) {
        const value = req.headers[name];
        if (value !== undefined && !HOP.has(name)) headers[name] = value;
      }
      pool.request({ path: req.url ?? '/', method: req.method as 'POST', headers, body: Buffer.concat(chunks) }).then(
        async (answer) => {
          const out: Record<string, string | string[]> = {};
          for (const name in answer.headers) {
            const value = answer.headers[name];
            if (value !== undefined && !HOP.has(name)) out[name] = value;
          }
          const body = Buffer.from(await answer.body.arrayBuffer());
          out['content-length'] = String(body.length);
          res.writeHead(answer.statusCode, out).end(body);
        },
        () => res.writeHead(502).end(),
      );
    });
  }).listen(port, '127.0.0.1');
}

export interface FloorProxy {
  url: string;
  pid: number;
  stop(): void;
}

/** Starts the floor proxy in front of `upstream` on `port`, with a cleared environment as berth's own processes have. */
export async function startFloorProxy(port: number, upstream: string): Promise<FloorProxy> {
  const child = spawn(process.execPath, [import.meta.filename, String(port), upstream], { env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
  for (let i = 0; i < 500; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) return { url: `http://127.0.0.1:${port}`, pid: child.pid as number, stop: () => child.kill('SIGKILL') };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  throw new Error('the floor proxy did not start');
}

if (import.meta.main) serve(Number(process.argv[2]), process.argv[3] as string);
