import { BlockList, isIP } from 'node:net';
import { plainAddress, reachesThisHost, specialKind } from '../../core/addresses.ts';
import { parseEntry } from '../../core/allowlist.ts';

export { plainAddress };

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
    if (family !== 0)
      return this.#ranges.check(host, family === 6 ? 'ipv6' : 'ipv4') ? undefined : `${host} is not in a range on this runtime's egress allowlist`;
    const name = host.toLowerCase().replace(/\.$/, '');
    if (this.#names.includes(name) || this.#suffixes.some((suffix) => name.endsWith(suffix))) return undefined;
    return `${name} is not on this runtime's egress allowlist`;
  }

  /** Why an address a listed name resolved to may not be connected to (a phrase about the address), or undefined when it may. */
  refusesAddress(address: string, family: 'ipv4' | 'ipv6'): string | undefined {
    if (this.#ranges.check(address, family)) return undefined;
    const kind = specialKind(address, family);
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
    return localAddresses.has(address) || reachesThisHost(address, family) ? `on this host, where port ${port} is berth's own` : undefined;
  }
}
