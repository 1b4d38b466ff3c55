import { lookup } from 'node:dns/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { listenUnix } from '../unix-listen.ts';
import { plainAddress, type EgressPolicy } from './policy.ts';

/** Tunnels and forwarded requests one sandbox may have open at once; past this, more are refused (berth's descriptors are shared). */
const MAX_OPEN = 256;
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The host side of a sandbox's egress: an HTTP proxy (CONNECT tunnels, and plain `http:` requests in absolute form)
 * on a Unix socket the sandbox reaches, deciding every destination by the runtime's policy. It resolves names
 * itself, so the sandbox needs no DNS, and connects only to an address it vetted, so a name cannot be re-pointed
 * between the check and the connection. Every refusal is reported through `onRefusal` for the session's log.
 */
export class EgressProxy {
  readonly path: string;
  readonly #server: Server;
  readonly #policy: EgressPolicy;
  readonly #onRefusal: (message: string) => void;
  readonly #open = new Set<Socket>();

  private constructor(path: string, server: Server, policy: EgressPolicy, onRefusal: (message: string) => void) {
    this.path = path;
    this.#server = server;
    this.#policy = policy;
    this.#onRefusal = onRefusal;
    server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.#tunnel(req, socket, head));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.#forward(req, res));
  }

  /** Listens at `path`, a socket only `owner` (the sandbox's uid) may connect to. */
  static async open(path: string, owner: { uid: number; gid: number }, policy: EgressPolicy, onRefusal: (message: string) => void): Promise<EgressProxy> {
    const server = createServer({ requestTimeout: 0, headersTimeout: 30_000 });
    await listenUnix(server, path, 64, owner);
    return new EgressProxy(path, server, policy, onRefusal);
  }

  close(): void {
    this.#server.close();
    for (const socket of this.#open) socket.destroy();
  }

  async #tunnel(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => {});
    const target = parseAuthority(req.url ?? '');
    const decided = target ? await this.#decide(target.host, target.port) : { refused: `"${req.url}" is not host:port` };
    if ('refused' in decided) {
      client.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nberth: ${decided.refused}\n`);
      return;
    }
    const upstream = this.#track(connect({ host: decided.address, port: decided.port, timeout: CONNECT_TIMEOUT_MS }));
    this.#track(client);
    upstream.once('timeout', () => upstream.destroy(new Error('timed out')));
    upstream.once('error', (error) => {
      if (!client.writableEnded) client.end(`HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\nberth: ${target?.host}:${target?.port}: ${error.message}\n`);
    });
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }

  async #forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
    } catch {
      res
        .writeHead(400, { 'content-type': 'text/plain' })
        .end('berth: the egress proxy forwards absolute http:// URLs, and tunnels anything else with CONNECT\n');
      return;
    }
    const decided = await this.#decide(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 80));
    if ('refused' in decided) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`berth: ${decided.refused}\n`);
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const upstream = httpRequest({
      host: decided.address,
      port: decided.port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      timeout: CONNECT_TIMEOUT_MS,
    });
    upstream.once('socket', (socket) => this.#track(socket));
    upstream.once('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.once('timeout', () => upstream.destroy(new Error('timed out')));
    upstream.once('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`berth: ${url.host}: ${error.message}\n`);
      else res.destroy();
    });
    req.pipe(upstream);
  }

  /** Where a connection to `host:port` may go, or why it may not. */
  async #decide(host: string, port: number): Promise<{ address: string; port: number } | { refused: string }> {
    const refuse = (why: string): { refused: string } => {
      this.#onRefusal(`egress to ${host}:${port} refused: ${why}`);
      return { refused: why };
    };
    if (this.#open.size >= MAX_OPEN) return refuse(`the sandbox has ${MAX_OPEN} connections open already`);
    const named = this.#policy.refusesName(host);
    if (named) return refuse(named);
    let addresses: Array<{ address: string; family: number }>;
    try {
      addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true });
    } catch (error) {
      return refuse(`${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const local = localAddresses();
    let why = `${host} resolves to no address`;
    for (const found of addresses) {
      const { address, family } = plainAddress(found.address, found.family === 6 ? 'ipv6' : 'ipv4');
      const refused = this.#policy.refusesAddress(address, family) ?? this.#policy.refusesPort(address, family, port, local);
      if (!refused) return { address, port };
      why = `${isIP(host) ? address : `${host} resolves to ${address}`}, ${refused}`;
    }
    return refuse(why);
  }

  #track(socket: Socket): Socket {
    this.#open.add(socket);
    socket.once('close', () => this.#open.delete(socket));
    return socket;
  }
}

function parseAuthority(authority: string): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(authority);
  if (!match) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { host: match[1] as string, port } : undefined;
}

function localAddresses(): Set<string> {
  const addresses = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) addresses.add(entry.address);
  return addresses;
}
