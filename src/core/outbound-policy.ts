import { BlockList, isIP } from 'node:net';
import { plainAddress, reachesThisHost, specialKind, type Family } from './addresses.ts';
import { parseEntry } from './allowlist.ts';
import { BerthError } from './errors.ts';

/** The setting an operator lists exceptions in; every refusal names it. */
export const OUTBOUND_SETTING = 'BERTH_OUTBOUND_ALLOW';

/**
 * Where berth itself may fetch from on a user's behalf (an issuer's discovery document and key set, named by whoever
 * deploys a runtime): https on public addresses only. Loopback, link-local, private, shared, unspecified, multicast
 * and reserved addresses, in any spelling, are refused unless `BERTH_OUTBOUND_ALLOW` lists them (a host name, a
 * `*.domain` or an address range, as in a sandbox's egress allowlist); so is plain http to a host it does not list.
 * berth's own ports on this host are refused whatever the list says. This is the judgement only: the fetcher
 * resolves names and asks about every address it found.
 */
export class OutboundPolicy {
  readonly #names: string[] = [];
  readonly #suffixes: string[] = [];
  readonly #ranges = new BlockList();
  /** Read at each judgement: the server learns its ports only once it listens. */
  readonly #berthPorts: readonly number[];

  constructor(allow: readonly string[], berthPorts: readonly number[]) {
    for (const raw of allow) {
      let entry: ReturnType<typeof parseEntry>;
      try {
        entry = parseEntry(raw);
      } catch (error) {
        throw new BerthError(
          'validation_failed',
          `${OUTBOUND_SETTING} lists hosts and ranges berth may fetch from though they are not public: ${(error as Error).message}`,
        );
      }
      if (entry.kind === 'name') this.#names.push(entry.name);
      else if (entry.kind === 'suffix') this.#suffixes.push(entry.suffix);
      else this.#ranges.addSubnet(entry.address, entry.prefix, entry.family);
    }
    this.#berthPorts = berthPorts;
  }

  /**
   * Why berth may not fetch `url`, judged from the URL alone (no lookup), or undefined when it may try: the scheme,
   * a literal address in any spelling the URL parser takes (`127.1`, `0x7f000001`, `[::ffff:7f00:1]`), and names
   * that are loopback by definition (`localhost`). `localAddresses` are this host's own, when the caller knows them.
   */
  refusesUrl(url: URL, localAddresses: ReadonlySet<string> = new Set()): string | undefined {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return `${url.protocol} URLs are not fetched; give an https URL`;
    const host = bareHost(url.hostname);
    const family = familyOf(host);
    if (url.protocol === 'http:' && !this.#lists(host, family)) {
      return `${url.origin} is plain http, which berth fetches only from hosts ${OUTBOUND_SETTING} lists; give an https URL`;
    }
    if (family !== undefined) return this.refusesAddress(host, host, family, portOf(url), localAddresses);
    if (isLoopbackName(host) && !this.#listsName(host))
      return `${host} always names this host (a loopback name), which berth fetches from only if ${OUTBOUND_SETTING} lists it`;
    return undefined;
  }

  /**
   * Why berth may not connect to `address`, which `host` resolved to (or is), on `port`; undefined when it may. A
   * host the list names may resolve anywhere but to berth itself; otherwise a special address must be in a listed range.
   */
  refusesAddress(host: string, address: string, family: Family, port: number, localAddresses: ReadonlySet<string>): string | undefined {
    const plain = plainAddress(address, family);
    const where = host === address ? address : `${host} resolves to ${address}, which`;
    if (this.#berthPorts.includes(port) && (localAddresses.has(address) || localAddresses.has(plain.address) || reachesThisHost(plain.address, plain.family))) {
      return `${where} is this host, where port ${port} is berth's own: berth never fetches from itself`;
    }
    if (this.#listsName(host) || this.#ranges.check(address, family) || this.#ranges.check(plain.address, plain.family)) return undefined;
    const kind = specialKind(plain.address, plain.family);
    return kind === undefined ? undefined : `${where} is a ${kind} address, which berth fetches from only if ${OUTBOUND_SETTING} lists it`;
  }

  #lists(host: string, family: Family | undefined): boolean {
    if (family === undefined) return this.#listsName(host);
    const plain = plainAddress(host, family);
    return this.#ranges.check(host, family) || this.#ranges.check(plain.address, plain.family);
  }

  #listsName(host: string): boolean {
    const name = host.toLowerCase().replace(/\.$/, '');
    return this.#names.includes(name) || this.#suffixes.some((suffix) => name.endsWith(suffix));
  }
}

/** A URL's hostname without the brackets an IPv6 address wears in it. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function familyOf(host: string): Family | undefined {
  const family = isIP(host);
  return family === 4 ? 'ipv4' : family === 6 ? 'ipv6' : undefined;
}

/** The port a URL connects to: the one it names, else its scheme's default. */
export function portOf(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

/** Names every resolver answers with loopback (RFC 6761), whatever DNS says. */
function isLoopbackName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}
