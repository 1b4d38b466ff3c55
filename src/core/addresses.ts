import { BlockList } from 'node:net';

/**
 * What kind of address an IP address is, for the two places berth connects on someone else's word: a sandbox's
 * egress proxy and berth's own outbound fetches (an issuer's discovery document and keys). Both refuse the same
 * addresses unless an operator lists them, so the ranges live here once.
 */

export type Family = 'ipv4' | 'ipv6';

/**
 * An address as policy judges it: an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) is the IPv4
 * address it reaches, so a range or a refusal written for IPv4 applies to it too.
 */
export function plainAddress(address: string, family: Family): { address: string; family: Family } {
  if (family === 'ipv4') return { address, family };
  const words = ipv6Words(address);
  if (!words || !isPrefix(words, [0, 0, 0, 0, 0, 0xffff])) return { address, family };
  return { address: ipv4Of(words), family: 'ipv4' };
}

/** Whether `address` reaches this host whatever its interfaces are: loopback and unspecified addresses. */
export function reachesThisHost(address: string, family: Family): boolean {
  return THIS_HOST.check(address, family);
}

/**
 * The kind of special address `address` is (`loopback`, `link-local`, `private`, …), or undefined for a public
 * one. An IPv6 address that carries an IPv4 address (IPv4-mapped, NAT64's well-known prefix, 6to4) is the kind its
 * IPv4 address is; the old IPv4-compatible form is reserved.
 */
export function specialKind(address: string, family: Family): string | undefined {
  const kind = SPECIAL.find((special) => special.ranges.check(address, family))?.kind;
  if (kind !== undefined || family === 'ipv4') return kind;
  const words = ipv6Words(address);
  if (!words) return 'malformed';
  if (isPrefix(words, [0, 0, 0, 0, 0, 0xffff]) || isPrefix(words, [0x64, 0xff9b, 0, 0, 0, 0])) return specialKind(ipv4Of(words), 'ipv4');
  if (isPrefix(words, [0x2002])) return specialKind(ipv4Of([0, 0, 0, 0, 0, 0, words[1] as number, words[2] as number]), 'ipv4');
  if (isPrefix(words, [0, 0, 0, 0, 0, 0])) return 'reserved (IPv4-compatible IPv6)';
  return undefined;
}

function ranges(list: Array<[string, number, Family]>): BlockList {
  const block = new BlockList();
  for (const [address, prefix, family] of list) block.addSubnet(address, prefix, family);
  return block;
}

/** The eight 16-bit words of an IPv6 address, or undefined when it is not one. */
function ipv6Words(address: string): number[] | undefined {
  let canonical: string;
  try {
    // The URL parser writes an IPv6 address in its one canonical form: lower-case hex, no dotted tail, one `::`.
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = '', tail] = canonical.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((word) => Number.parseInt(word, 16)));
  const [first, last] = [parse(head), tail === undefined ? [] : parse(tail)];
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}

function isPrefix(words: readonly number[], prefix: readonly number[]): boolean {
  return prefix.every((word, i) => words[i] === word);
}

/** The IPv4 address in an IPv6 address's last 32 bits. */
function ipv4Of(words: readonly number[]): string {
  const [high, low] = [words[6] as number, words[7] as number];
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

const THIS_HOST = ranges([
  ['127.0.0.0', 8, 'ipv4'],
  ['0.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
  ['::', 128, 'ipv6'],
]);

/** Addresses no one reaches on berth's behalf unless an operator lists them, first match naming the kind. */
const SPECIAL: Array<{ kind: string; ranges: BlockList }> = [
  {
    kind: 'loopback',
    ranges: ranges([
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ]),
  },
  {
    kind: 'link-local',
    ranges: ranges([
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ]),
  },
  {
    kind: 'private',
    ranges: ranges([
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['100.64.0.0', 10, 'ipv4'],
      ['fc00::', 7, 'ipv6'],
      ['fec0::', 10, 'ipv6'],
    ]),
  },
  {
    kind: 'unspecified, broadcast or multicast',
    ranges: ranges([
      ['0.0.0.0', 8, 'ipv4'],
      ['224.0.0.0', 3, 'ipv4'],
      ['::', 128, 'ipv6'],
      ['ff00::', 8, 'ipv6'],
    ]),
  },
  {
    // Protocol assignments (192.0.0.0/24 holds NAT64 and DS-Lite's own addresses), benchmarking, discard-only,
    // Teredo, local-use NAT64 and SIIT's IPv4-translated form: none is where an issuer or an API lives.
    kind: 'reserved',
    ranges: ranges([
      ['192.0.0.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'],
      ['100::', 64, 'ipv6'],
      ['2001::', 32, 'ipv6'],
      ['64:ff9b:1::', 48, 'ipv6'],
      ['::ffff:0:0:0', 96, 'ipv6'],
    ]),
  },
];
