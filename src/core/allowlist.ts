import { isIP } from 'node:net';

/** One entry of a runtime's egress allowlist: a host name, a `*.` suffix, or an address range. */
export type Entry =
  { kind: 'name'; name: string } | { kind: 'suffix'; suffix: string } | { kind: 'range'; address: string; prefix: number; family: 'ipv4' | 'ipv6' };

const NAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Parses one allowlist entry; throws an Error saying what an entry may be. */
export function parseEntry(raw: string): Entry {
  const entry = raw.trim().toLowerCase();
  const [address, prefixText, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family !== 0 && extra === undefined) {
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
      throw new Error(`"${raw}": a range's prefix length is 0 to ${max}`);
    }
    return { kind: 'range', address: address as string, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
  }
  if (entry.startsWith('*.') && NAME.test(entry.slice(2))) return { kind: 'suffix', suffix: entry.slice(1) };
  if (NAME.test(entry) && !entry.includes('/')) return { kind: 'name', name: entry };
  throw new Error(`"${raw}" is neither a host name (api.example.com, *.example.com) nor an address range (203.0.113.0/24)`);
}
