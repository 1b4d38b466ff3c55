import { BerthError } from '../core/errors.ts';
import type { NodeView } from '../cluster/nodes.ts';
import type { SessionInfo } from '../sessions/manager.ts';
import type { ApiKeyPosition, EndpointRecord, PageQuery, RuntimeRecord, VersionRecord } from '../store/store.ts';
import type { ApiKeyView } from './api-keys.ts';

/** How an API asks for pages: the names of its two query parameters and the page sizes it allows. */
export interface PageParameters {
  limit: string;
  next: string;
  defaultLimit: number;
  maxLimit: number;
}

/** berth's own `/v1`: `?limit=&next=`. */
export const V1_PAGES: PageParameters = { limit: 'limit', next: 'next', defaultLimit: 100, maxLimit: 1000 };

/**
 * One list's keys: its name, so that a token from another list is refused rather than read as a position in this
 * one; the key of an item; and what a key may be, so a token that was tampered with is refused before any query.
 */
export interface ListKeys<T, K> {
  list: string;
  keyOf(item: T): K;
  isKey(value: unknown): value is K;
}

/** One page of a list, and the token of the next page when more remain. */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** The longest `next` token taken; the longest this berth gives is well under it. */
const TOKEN_MAX = 1024;
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,47}$/;
const SESSION_ID = /^[\x21-\x7e]{1,256}$/;
const KEY_ID = /^[a-z2-7]{16}$/;
const NODE_ID = /^node_[0-9a-f]{16}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** How much of a refused value an error quotes. */
const QUOTED_MAX = 40;

const isName = (value: unknown): value is string => typeof value === 'string' && NAME.test(value);
const isVersion = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 1;

export const RUNTIME_KEYS: ListKeys<RuntimeRecord, string> = { list: 'runtimes', keyOf: (runtime) => runtime.name, isKey: isName };
export const VERSION_KEYS: ListKeys<VersionRecord, number> = { list: 'versions', keyOf: (version) => version.version, isKey: isVersion };
/** Versions newest first, as AgentCore lists them: the same keys, but a token of the other order is foreign. */
export const NEWEST_VERSION_KEYS: ListKeys<VersionRecord, number> = { ...VERSION_KEYS, list: 'versions-newest' };
export const ENDPOINT_KEYS: ListKeys<EndpointRecord, string> = { list: 'endpoints', keyOf: (endpoint) => endpoint.name, isKey: isName };
export const SESSION_KEYS: ListKeys<SessionInfo, string> = {
  list: 'sessions',
  keyOf: (session) => session.id,
  isKey: (value): value is string => typeof value === 'string' && SESSION_ID.test(value),
};
export const NODE_KEYS: ListKeys<NodeView, string> = {
  list: 'nodes',
  keyOf: (node) => node.id,
  isKey: (value): value is string => typeof value === 'string' && NODE_ID.test(value),
};
export const API_KEY_KEYS: ListKeys<ApiKeyView, ApiKeyPosition> = {
  list: 'keys',
  keyOf: (key) => ({ createdAt: key.createdAt, id: key.id }),
  isKey: isApiKeyPosition,
};

function isApiKeyPosition(value: unknown): value is ApiKeyPosition {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length !== 2) return false;
  const { createdAt, id } = value as Partial<ApiKeyPosition>;
  return typeof createdAt === 'string' && TIMESTAMP.test(createdAt) && typeof id === 'string' && KEY_ID.test(id);
}

/**
 * The page `url` asks for, by `params`: `fetch` is asked for one item more than the page holds, from after the
 * token's key, and that extra item is how the answer knows more remain (its `next` is the page's last key).
 */
export async function readPage<T, K>(
  url: URL,
  keys: ListKeys<T, K>,
  fetch: (query: PageQuery<K>) => T[] | Promise<T[]>,
  params: PageParameters = V1_PAGES,
): Promise<Page<T>> {
  const limit = pageLimit(url, params);
  const after = pageAfter(url, keys, params);
  const fetched = await fetch({ limit: limit + 1, ...(after === undefined ? {} : { after }) });
  if (fetched.length <= limit) return { items: fetched };
  const items = fetched.slice(0, limit);
  return { items, next: tokenOf(keys.list, keys.keyOf(items[limit - 1] as T)) };
}

/**
 * One page of a list berth holds in memory (sessions): the items whose keys come after `query.after`, at most
 * `query.limit` of them, in order of key by code point, as the store orders text.
 */
export function pageOfList<T>(all: readonly T[], keyOf: (item: T) => string, query: PageQuery<string>): T[] {
  const { after } = query;
  const sorted = all.filter((item) => after === undefined || keyOf(item) > after).sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  return sorted.slice(0, query.limit);
}

function pageLimit(url: URL, params: PageParameters): number {
  const value = single(url, params.limit, params);
  if (value === undefined) return params.defaultLimit;
  const limit = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!(limit >= 1 && limit <= params.maxLimit)) {
    throw new BerthError('validation_failed', `${params.limit} must be a whole number from 1 to ${params.maxLimit}, not ${quote(value)}`, {
      details: { parameter: params.limit },
    });
  }
  return limit;
}

function pageAfter<T, K>(url: URL, keys: ListKeys<T, K>, params: PageParameters): K | undefined {
  const token = single(url, params.next, params);
  if (token === undefined) return undefined;
  const refused = new BerthError(
    'validation_failed',
    `${params.next} ${quote(token)} is not a token this berth gave for this list: pass the "${params.next}" of the previous page unchanged, or leave it out to start from the first page`,
    { details: { parameter: params.next } },
  );
  if (token.length > TOKEN_MAX || !/^[A-Za-z0-9_-]+$/.test(token)) throw refused;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw refused;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2 || decoded[0] !== keys.list || !keys.isKey(decoded[1])) throw refused;
  return decoded[1];
}

/** A query parameter given at most once: two values would leave which one counts to chance. */
function single(url: URL, name: string, params: PageParameters): string | undefined {
  const values = url.searchParams.getAll(name);
  if (values.length > 1) {
    throw new BerthError('validation_failed', `give ${name} at most once (${params.limit} sets the page size, ${params.next} the page)`, {
      details: { parameter: name },
    });
  }
  return values[0];
}

/** The opaque token of the page after the item whose key is `key`: base64url of the list's name and that key. */
function tokenOf(list: string, key: unknown): string {
  return Buffer.from(JSON.stringify([list, key])).toString('base64url');
}

function quote(value: string): string {
  return JSON.stringify(value.length > QUOTED_MAX ? `${value.slice(0, QUOTED_MAX)}…` : value);
}
