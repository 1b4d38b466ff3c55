import type { RequestHeaders } from '../core/inbound.ts';
import { isIPv6 } from 'node:net';
import { BerthError } from '../core/errors.ts';

/** A host name: dot-separated ASCII labels of letters, digits, `-` and `_` (Docker's names), none empty. */
const NAME = /^[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*$/;
const NAME_MAX = 253;
const NAME_AND_PORT = /^([^:[\]]+)(?::(\d{1,5}))?$/;
const BRACKETED_AND_PORT = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/;
const PORT_MAX = 65_535;
/** How much of a refused Host header an error quotes: enough to recognise it, never a whole overlong header. */
const QUOTED_MAX = 100;

/**
 * The host a Host header names, lower-cased and without its port (`[::1]` keeps its brackets), or undefined when the
 * header is anything but a plain `name[:port]` or `[ipv6][:port]`: user info, a path, spaces, percent-escapes,
 * non-ASCII, a second port, an empty label (a trailing dot), an IPv6 address without brackets. Splitting such a
 * header at some colon would compare the wrong part of it (`127.0.0.1:80@evil.example`).
 */
export function plainHostName(value: string): string | undefined {
  const bracketed = BRACKETED_AND_PORT.exec(value);
  const match = bracketed ?? NAME_AND_PORT.exec(value);
  if (!match) return undefined;
  const host = match[1] as string;
  if (bracketed ? !isIPv6(host) : host.length > NAME_MAX || !NAME.test(host)) return undefined;
  if (match[2] !== undefined && Number(match[2]) > PORT_MAX) return undefined;
  // WHATWG URL parsing has rules of its own (a name ending in a number must be an IPv4 address, punycode must
  // decode): a header it refuses is not plain either, so a URL built from a plain one never throws.
  if (!URL.canParse(`http://${value}/`)) return undefined;
  return bracketed ? `[${host.toLowerCase()}]` : host.toLowerCase();
}

/**
 * The plain-Host grammar for code that only asks whether a header is plain (node-adapter builds the request URL
 * from a plain one); `test` as on a RegExp.
 */
export const PLAIN_HOST = { test: (value: string): boolean => plainHostName(value) !== undefined } as const;

/**
 * DNS-rebinding protection: a browser tricked into sending a request to berth still names the attacker's host in
 * `Host` and its page's origin in `Origin`. berth answers only requests addressed to a host it serves, and never
 * one whose Host header is not plain, whatever hosts it serves.
 */
export function checkHost(headers: RequestHeaders, allowed: readonly string[] | '*'): void {
  const host = headers.get('host');
  const name = host === null ? undefined : plainHostName(host);
  if (host !== null && name === undefined) {
    throw new BerthError(
      'invalid_request',
      `the Host header ${quote(host)} is not a plain host: send name[:port] or [ipv6][:port], without user info, path, spaces, percent-escapes or a trailing dot`,
    );
  }
  if (allowed === '*') return;
  if (name === undefined || !allowed.includes(name)) {
    throw new BerthError(
      'forbidden',
      `requests to this berth must be addressed to ${allowed.join(', ')}; Host was ${quote(host)} (BERTH_ALLOWED_HOSTS sets the names, comma-separated; it replaces the loopback defaults, so list those too)`,
    );
  }
  const origin = headers.get('origin');
  if (origin === null) return;
  let originHost: string;
  try {
    originHost = new URL(origin).hostname.toLowerCase();
  } catch {
    throw new BerthError('forbidden', `the Origin header ${quote(origin)} is not a URL`);
  }
  if (!allowed.includes(originHost))
    throw new BerthError(
      'forbidden',
      `requests from origin ${quote(origin)} are not allowed (BERTH_ALLOWED_HOSTS sets the names allowed; it replaces the defaults)`,
    );
}

function quote(value: string | null): string {
  if (value === null) return 'missing';
  return JSON.stringify(value.length > QUOTED_MAX ? `${value.slice(0, QUOTED_MAX)}…` : value);
}
