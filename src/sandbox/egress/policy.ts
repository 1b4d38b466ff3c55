import { BlockList, isIP } from 'node:net';
import { parseEntry } from '../../core/allowlist.ts';

/**
 * A runtime's egress allowlist: host names (`api.example.com`, or `*.example.com` for its subdomains) and address
 * ranges (`203.0.113.0/24`, `2001:db8::/32`, or one address). A name must be listed to be reached, and every address
 * it resolves to must be public unless a listed range covers it: loopback, link-local, private, shared and
 * unspecified addresses are refused by default, so a listed name cannot be pointed at berth, the host or the local
 * network (DNS rebinding).
 */
export class EgressPolicy {
  readonly #names: string[] = [];
  readonly #suffixes: string[] = [];
  readonly #ranges = new BlockList();
  readonly #ports: ReadonlySet<number>;

  /** `refusedPorts`: ports never reached on any of this host's addresses (berth's own), whatever the list says. */
  constructor(allow: readonly string[], refusedPorts: readonly number[] = []) {
    for (const entry of allow) {
      const parsed = parseEntry(entry);
      if (parsed.kind === 'name') this.#names.push(parsed.name);
      else if (parsed.kind === 'suffix') this.#suffixes.push(parsed.suffix);
      else this.#ranges.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    this.#ports = new Set(refusedPorts);
  }

  /** Why a connection to `host` may not even be looked up, or undefined when it may. */
  refusesName(host: string): string | undefined {
    const family = isIP(host);
    if (family !== 0) return this.#ranges.check(host, family === 6 ? 'ipv6' : 'ipv4') ? undefined : `${host} is not in a range on this runtime's egress allowlist`;
    const name = host.toLowerCase().replace(/\.$/, '');
    if (this.#names.includes(name) || this.#suffixes.some((suffix) => name.endsWith(suffix))) return undefined;
    return `${name} is not on this runtime's egress allowlist`;
  }

  /** Why an address a listed name resolved to may not be connected to (a phrase about the address), or undefined when it may. */
  refusesAddress(address: string, family: 'ipv4' | 'ipv6'): string | undefined {
    if (this.#ranges.check(address, family)) return undefined;
    const kind = SPECIAL.find((special) => special.ranges.check(address, family))?.kind;
    if (kind) return `a ${kind} address, which this runtime's egress allowlist does not list`;
    return undefined;
  }

  /**
   * Why `address:port` may not be connected to because it is berth's own port on this host, whatever the list says.
   * This host is every address it has, and also any loopback or unspecified address, since a listener on 0.0.0.0 or
   * :: answers all of them. Pass IPv4-mapped addresses through `plainAddress` first.
   */
  refusesPort(address: string, family: 'ipv4' | 'ipv6', port: number, localAddresses: ReadonlySet<string>): string | undefined {
    if (!this.#ports.has(port)) return undefined;
    return localAddresses.has(address) || THIS_HOST.check(address, family) ? `on this host, where port ${port} is berth's own` : undefined;
  }
}

function ranges(list: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const block = new BlockList();
  for (const [address, prefix, family] of list) block.addSubnet(address, prefix, family);
  return block;
}

/**
 * An address as policy judges it: an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) is the IPv4
 * address it reaches, so a range or a refusal written for IPv4 applies to it too.
 */
export function plainAddress(address: string, family: 'ipv4' | 'ipv6'): { address: string; family: 'ipv4' | 'ipv6' } {
  if (family === 'ipv4') return { address, family };
  // The URL parser writes an IPv6 address in its one canonical form, where a mapped address is ::ffff:hhhh:hhhh.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const words = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!words) return { address, family };
  const [high, low] = [Number.parseInt(words[1] as string, 16), Number.parseInt(words[2] as string, 16)];
  return { address: `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`, family: 'ipv4' };
}

/** Addresses that reach this host whatever its interfaces are: loopback and unspecified. */
const THIS_HOST = ranges([['127.0.0.0', 8, 'ipv4'], ['0.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6'], ['::', 128, 'ipv6']]);

/** Addresses no runtime reaches unless its list names them (IPv4-mapped forms are judged as IPv4 by `plainAddress`). */
const SPECIAL: Array<{ kind: string; ranges: BlockList }> = [
  { kind: 'loopback', ranges: ranges([['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]) },
  { kind: 'link-local', ranges: ranges([['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']]) },
  {
    kind: 'private',
    ranges: ranges([
      ['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['fc00::', 7, 'ipv6'],
    ]),
  },
  { kind: 'unspecified, broadcast or multicast', ranges: ranges([['0.0.0.0', 8, 'ipv4'], ['224.0.0.0', 3, 'ipv4'], ['::', 128, 'ipv6'], ['ff00::', 8, 'ipv6']]) },
];
