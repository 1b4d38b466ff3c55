import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import type { OutboundFetcher } from './outbound-fetch.ts';
import { Remembered } from './remembered.ts';

/** The issuer's discovery document is fetched again after this long. */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
/** The issuer's key set is fetched again after this long even if no token names a new key. */
const KEYS_TTL_MS = 10 * 60 * 1000;
/** A failed fetch is the answer for this long: asking again within it fetches nothing. */
export const FAILURE_TTL_MS = 30 * 1000;

const WELL_KNOWN = '/.well-known/openid-configuration';

/** berth cannot check tokens now: the issuer's document or keys cannot be had. `retryAfter` is in seconds. */
export class IssuerUnavailable extends Error {
  readonly retryAfter: number;
  constructor(message: string, retryAfter: number) {
    super(message);
    this.retryAfter = retryAfter;
  }
}

export interface IssuerOptions {
  fetcher: OutboundFetcher;
  /** How soon a token signed with a key berth has not seen may make the key set be fetched again. */
  keysCooldownMs: number;
  now?: () => number;
}

/** A key set as jose looks keys up in it, and the key ids it holds. */
export interface KeySet {
  resolve: ReturnType<typeof createLocalJWKSet>;
  kids: ReadonlySet<string>;
}

interface Discovered {
  issuer: string;
  jwksUri: string;
}

/**
 * One OpenID issuer, known by its discovery URL: its identifier and its keys, each fetched through the outbound
 * fetcher and remembered, failures too, so no number of requests makes berth fetch more than once per period.
 */
export class Issuer {
  readonly #discoveryUrl: string;
  readonly #options: IssuerOptions;
  readonly #discovery: Remembered<Discovered>;
  #keys: { jwksUri: string; remembered: Remembered<KeySet> } | undefined;

  constructor(discoveryUrl: string, options: IssuerOptions) {
    this.#discoveryUrl = discoveryUrl;
    this.#options = options;
    this.#discovery = new Remembered(() => discover(discoveryUrl, options.fetcher), {
      ttlMs: DISCOVERY_TTL_MS,
      failureTtlMs: FAILURE_TTL_MS,
      ...clock(options),
    });
  }

  /** The issuer's identifier, as its discovery document states it and its discovery URL implies. */
  async identifier(): Promise<string> {
    return (await this.#discovered()).issuer;
  }

  /**
   * The issuer's keys for a token naming `kid`: the remembered set, fetched again first when it lacks `kid` and the
   * last fetch is at least the cooldown old. Call only once the token has shown it is this issuer's to check.
   */
  async keysFor(kid: string | undefined): Promise<KeySet> {
    const keys = this.#keySet((await this.#discovered()).jwksUri);
    let set = await this.#unavailable(keys.get(), keys, 'key set');
    if (kid !== undefined && !set.kids.has(kid)) {
      const reloaded = keys.reload(this.#options.keysCooldownMs);
      if (reloaded) set = await this.#unavailable(reloaded, keys, 'key set');
    }
    return set;
  }

  #discovered(): Promise<Discovered> {
    return this.#unavailable(this.#discovery.get(), this.#discovery, 'discovery document');
  }

  #keySet(jwksUri: string): Remembered<KeySet> {
    if (this.#keys?.jwksUri !== jwksUri) {
      this.#keys = {
        jwksUri,
        remembered: new Remembered(() => fetchKeys(jwksUri, this.#options.fetcher), {
          ttlMs: KEYS_TTL_MS,
          failureTtlMs: FAILURE_TTL_MS,
          ...clock(this.#options),
        }),
      };
    }
    return this.#keys.remembered;
  }

  async #unavailable<T>(pending: Promise<T>, remembered: Remembered<unknown>, what: string): Promise<T> {
    try {
      return await pending;
    } catch (error) {
      const retryAfter = remembered.retryAfterSeconds();
      throw new IssuerUnavailable(`berth could not read the issuer's ${what} (discovery URL ${this.#discoveryUrl}): ${(error as Error).message}`, retryAfter);
    }
  }
}

function clock(options: IssuerOptions): { now?: () => number } {
  return options.now ? { now: options.now } : {};
}

/**
 * The issuer and key set URL a discovery document names. The issuer must be the URL the document is under (OpenID
 * Connect Discovery 1.0, §4.3), so what berth tells clients is the issuer its operator configured, and the key set
 * URL must be one berth would fetch.
 */
async function discover(discoveryUrl: string, fetcher: OutboundFetcher): Promise<Discovered> {
  const document = await fetcher.json(new URL(discoveryUrl));
  const { issuer, jwks_uri: jwksUri } = (typeof document === 'object' && document !== null ? document : {}) as { issuer?: unknown; jwks_uri?: unknown };
  if (typeof issuer !== 'string' || typeof jwksUri !== 'string') throw new Error('the document lacks issuer or jwks_uri');
  const expected = issuerIdentifier(discoveryUrl);
  if (normalized(issuer) !== expected)
    throw new Error(`the document names the issuer ${JSON.stringify(issuer)}, but an issuer's document is under its own URL (${expected}${WELL_KNOWN})`);
  let keys: URL;
  try {
    keys = new URL(jwksUri);
  } catch {
    throw new Error(`its jwks_uri ${JSON.stringify(jwksUri)} is not a URL`);
  }
  const refused = fetcher.refuses(keys);
  if (refused) throw new Error(`its jwks_uri ${keys.href} is not one berth fetches: ${refused}`);
  return { issuer, jwksUri: keys.href };
}

async function fetchKeys(jwksUri: string, fetcher: OutboundFetcher): Promise<KeySet> {
  const document = await fetcher.json(new URL(jwksUri));
  let resolve: KeySet['resolve'];
  try {
    resolve = createLocalJWKSet(document as JSONWebKeySet);
  } catch {
    throw new Error(`${jwksUri} did not answer with a JSON Web Key Set`);
  }
  const keys = (document as { keys: Array<{ kid?: unknown }> }).keys;
  return { resolve, kids: new Set(keys.map((key) => key.kid).filter((kid): kid is string => typeof kid === 'string')) };
}

/** The issuer a discovery URL is the document of: the URL without `/.well-known/openid-configuration`. */
export function issuerIdentifier(discoveryUrl: string): string {
  const url = new URL(discoveryUrl);
  const path = url.pathname.endsWith(WELL_KNOWN) ? url.pathname.slice(0, -WELL_KNOWN.length) : url.pathname;
  return `${url.origin}${path.replace(/\/$/, '')}`;
}

/** An issuer identifier as compared: origin and path, without a trailing slash (Auth0 writes one). */
function normalized(issuer: string): string | undefined {
  try {
    const url = new URL(issuer);
    return url.search || url.hash ? undefined : `${url.origin}${url.pathname.replace(/\/$/, '')}`;
  } catch {
    return undefined;
  }
}
