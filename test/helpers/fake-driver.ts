/**
 * A sandbox driver for the edge's in-process tests: each "sandbox" is an HTTP server inside the test process on a
 * Unix socket, standing in for berth's supervisor at the channel's paths, so the edge's whole pipeline (admission,
 * session key, lease, channel, relay, errors) runs on any machine, with no root, bwrap or child process. It isolates
 * nothing: the driver contract suite and the end-to-end suites cover real sandboxes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputLog } from '../../src/sandbox/output-log.ts';
import type { Sandbox, SandboxDriver, SandboxExit, SandboxSpec } from '../../src/sandbox/driver.ts';

/** One sandbox's channel, as a test writes it: the request, its body read whole, and the answer to write. */
export type FakeChannel = (request: { path: string; headers: IncomingMessage['headers']; body: string; sandbox: FakeSandbox }, res: ServerResponse) => void;

export interface FakeSandbox {
  id: string;
  runtime: string;
  /** Calls of the default server's `increment`: state that lives exactly as long as the sandbox. */
  count: number;
  /** Every request the channel got, in order. */
  seen: Array<{ path: string; headers: IncomingMessage['headers']; body: string }>;
}

/** A 2026-07-28 server with one tool, `increment`, counting per sandbox. */
export const modernCounter: FakeChannel = ({ body, sandbox }, res) => {
  const message = JSON.parse(body) as { id?: unknown; method?: string };
  if (message.id === undefined) {
    res.writeHead(202).end();
    return;
  }
  const results: Record<string, () => unknown> = {
    'server/discover': () => ({ supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, resultType: 'complete', ttlMs: 0, cacheScope: 'public' }),
    'tools/list': () => ({ tools: [{ name: 'increment', inputSchema: { type: 'object' } }], resultType: 'complete', ttlMs: 0, cacheScope: 'public' }),
    'tools/call': () => ({ content: [{ type: 'text', text: JSON.stringify({ count: ++sandbox.count }) }], resultType: 'complete' }),
  };
  const result = results[message.method ?? '']?.();
  const answer = JSON.stringify(
    result === undefined
      ? { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'Method not found' } }
      : { jsonrpc: '2.0', id: message.id, result },
  );
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
};

export class FakeDriver implements SandboxDriver {
  readonly name = 'fake';
  readonly isolated = false;
  /** Live sandboxes by id. */
  readonly sandboxes = new Map<string, FakeSandbox>();
  readonly #dir = mkdtempSync(join(tmpdir(), 'berth-fake-driver-'));
  readonly #channels: Record<string, FakeChannel>;
  readonly #stops = new Set<() => Promise<void>>();

  /** `channels`: each runtime's channel by runtime name; others get `modernCounter`. */
  constructor(channels: Record<string, FakeChannel> = {}) {
    this.#channels = channels;
  }

  async start(spec: SandboxSpec): Promise<Sandbox> {
    const fake: FakeSandbox = { id: spec.id, runtime: spec.runtime, count: 0, seen: [] };
    const channel = this.#channels[spec.runtime] ?? modernCounter;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        fake.seen.push(request);
        channel({ ...request, sandbox: fake }, res);
      });
    });
    const socketPath = join(this.#dir, `${spec.id}.sock`);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    this.sandboxes.set(spec.id, fake);
    let settleClosing = (): void => {};
    const closing = new Promise<void>((resolve) => (settleClosing = resolve));
    let settleExit = (_exit: SandboxExit): void => {};
    const exited = new Promise<SandboxExit>((resolve) => (settleExit = resolve));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        settleClosing();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        this.sandboxes.delete(spec.id);
        this.#stops.delete(stop);
        settleExit({ reason: 'stopped' });
      })());
    this.#stops.add(stop);
    return {
      id: spec.id,
      era: 'modern',
      output: new OutputLog(spec.logBytes),
      activity: { waiting: 0, busy: false },
      onActivity: () => {},
      pid: process.pid,
      channel: { socketPath },
      closing,
      exited,
      stats: () => ({}),
      limitReached: () => undefined,
      using: () => () => {},
      limits: () => [],
      onLimit: () => {},
      retire: () => void stop(),
      stop,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#stops].map((stop) => stop()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
