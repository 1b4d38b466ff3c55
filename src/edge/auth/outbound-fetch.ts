import { lookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Agent, request } from 'undici';
import { bareHost, portOf, type OutboundPolicy } from '../../core/outbound-policy.ts';

/** Every address a name resolves to, as `dns.lookup(name, { all: true })` answers. */
export type Resolve = (host: string) => Promise<LookupAddress[]>;

export interface OutboundFetcherOptions {
  policy: OutboundPolicy;
  /** How names are resolved; tests give their own answers. */
  resolve?: Resolve;
  /** The whole fetch, lookup to last byte, ends after this long. */
  timeoutMs?: number;
  /** A larger answer is refused: a discovery document and a key set are a few kilobytes. */
  maxBytes?: number;
}

/** Why an outbound fetch did not give a document: a phrase a user can act on, naming the URL's host. */
export class OutboundFailure extends Error {}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_BYTES = 512 * 1024;

/**
 * Fetches JSON documents berth reads on a user's behalf, where the policy allows: the name is resolved here, every
 * address it resolved to is judged (one forbidden address refuses it all), and the connection goes only to judged
 * addresses, so a second DNS answer cannot swap them (rebinding). Redirects are never followed: a 3xx is a failure.
 */
export class OutboundFetcher {
  readonly #policy: OutboundPolicy;
  readonly #resolve: Resolve;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;

  constructor(options: OutboundFetcherOptions) {
    this.#policy = options.policy;
    this.#resolve = options.resolve ?? ((host) => lookup(host, { all: true, order: 'verbatim' }));
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /** Why `url` would be refused before any lookup, or undefined: what a document names is checked before it is kept. */
  refuses(url: URL): string | undefined {
    return this.#policy.refusesUrl(url, localAddresses());
  }

  /** The JSON `url` answers with 200; throws OutboundFailure saying why not. */
  async json(url: URL): Promise<unknown> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const addresses = await this.#judge(url, signal);
    const agent = new Agent({
      connect: { lookup: pinned(addresses), timeout: this.#timeoutMs },
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      connections: 1,
    });
    try {
      const response = await request(url, { dispatcher: agent, method: 'GET', headers: { accept: 'application/json' }, signal });
      if (response.statusCode >= 300 && response.statusCode < 400) {
        await response.body.dump();
        const location = response.headers.location;
        throw new OutboundFailure(
          `${url.origin} answered with a redirect (${response.statusCode}${typeof location === 'string' ? ` to ${location}` : ''}), and berth follows none: give the final URL`,
        );
      }
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new OutboundFailure(`${url.origin} answered ${response.statusCode}`);
      }
      let size = 0;
      const chunks: Buffer[] = [];
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.#maxBytes) throw new OutboundFailure(`${url.origin} answered with more than ${this.#maxBytes} bytes`);
        chunks.push(chunk);
      }
      try {
        return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      } catch {
        throw new OutboundFailure(`${url.origin} answered with something that is not JSON`);
      }
    } catch (error) {
      if (error instanceof OutboundFailure) throw error;
      throw new OutboundFailure(`${url.origin} could not be read (${describe(error)})`);
    } finally {
      agent.destroy().catch(() => undefined);
    }
  }

  /** The addresses berth may connect to for `url`: every one its host has, each judged by the policy. */
  async #judge(url: URL, signal: AbortSignal): Promise<[LookupAddress, ...LookupAddress[]]> {
    const local = localAddresses();
    const refused = this.#policy.refusesUrl(url, local);
    if (refused) throw new OutboundFailure(refused);
    const host = bareHost(url.hostname);
    let addresses: LookupAddress[];
    if (isIP(host) !== 0) {
      addresses = [{ address: host, family: isIP(host) }];
    } else {
      try {
        addresses = await Promise.race([this.#resolve(host), aborted(signal)]);
      } catch (error) {
        throw new OutboundFailure(`${host} does not resolve (${describe(error)})`);
      }
    }
    const port = portOf(url);
    for (const found of addresses) {
      const why = this.#policy.refusesAddress(host, found.address, found.family === 6 ? 'ipv6' : 'ipv4', port, local);
      if (why) throw new OutboundFailure(why);
    }
    const [first, ...rest] = addresses;
    if (!first) throw new OutboundFailure(`${host} resolves to no address`);
    return [first, ...rest];
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect that answers with the judged addresses only, never asking DNS again: all of them when
 * the caller asks for all (to try each family in turn), else the first.
 */
function pinned(addresses: [LookupAddress, ...LookupAddress[]]): (host: string, options: { all?: boolean }, callback: LookupCallback) => void {
  return (_host, options, callback) => {
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0].address, addresses[0].family);
  };
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(new Error('timed out'));
    signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true });
  });
}

/** Every address this host has: berth's ports are its own on each. */
function localAddresses(): Set<string> {
  const addresses = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) addresses.add(entry.address);
  return addresses;
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') return 'timed out';
  return code ?? (error as Error).message;
}
