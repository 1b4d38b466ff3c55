import { BerthError } from '../core/errors.ts';

/**
 * DNS-rebinding protection: a browser tricked into sending a request to berth still names the attacker's host in
 * `Host` and its page's origin in `Origin`. berth answers only requests addressed to a host it serves.
 */
export function checkHost(headers: Headers, allowed: readonly string[] | '*'): void {
  if (allowed === '*') return;
  const host = headers.get('host');
  if (host === null || !allowed.includes(hostname(host))) {
    throw new BerthError('forbidden', `requests to this berth must be addressed to ${allowed.join(', ')}; Host was ${JSON.stringify(host)} (BERTH_ALLOWED_HOSTS adds names)`);
  }
  const origin = headers.get('origin');
  if (origin === null) return;
  let originHost: string;
  try {
    originHost = new URL(origin).hostname.toLowerCase();
  } catch {
    throw new BerthError('forbidden', `the Origin header ${JSON.stringify(origin)} is not a URL`);
  }
  if (!allowed.includes(originHost)) throw new BerthError('forbidden', `requests from origin ${origin} are not allowed (BERTH_ALLOWED_HOSTS adds names)`);
}

/** The host name of a Host header value, without its port: `127.0.0.1:8787` → `127.0.0.1`, `[::1]:80` → `[::1]`. */
function hostname(value: string): string {
  const lower = value.trim().toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}
