import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import { BerthError } from '../core/errors.ts';
import type { ApiKeyPosition, ApiKeyRecord, PageQuery, Store } from '../store/store.ts';
import { parseInput } from './validation.ts';
import type { ApiKeyView } from '../core/api-key-view.ts';

/**
 * A key is `berth_<id>_<secret>`: the id finds the record, the SHA-256 of the whole key is checked against the stored
 * hash. The secret is 256 random bits, so a fast hash is enough (there is no dictionary to try), and the `berth_`
 * prefix lets secret scanners spot a leaked key.
 */
const KEY_FORMAT = /^berth_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** What `POST /v1/keys` accepts: an admin key, or a key to one runtime's data plane for one user. */
const KeyInput = z
  .strictObject({
    admin: z.boolean().optional(),
    runtime: z.string().min(1).optional(),
    user: z
      .string()
      .regex(/^[\x21-\x7e]{1,128}$/, 'a user id is 1 to 128 visible ASCII characters')
      .optional(),
    description: z.string().max(256).optional(),
  })
  .refine((input) => (input.admin === true) !== (input.runtime !== undefined), 'give either "runtime" (a key to that runtime) or "admin": true')
  .refine((input) => !(input.admin === true && input.user !== undefined), 'an admin key stands for no user: leave out "user"');

export type { ApiKeyView } from '../core/api-key-view.ts';

/** Keys a node keeps in memory at most; the longest-kept is dropped first. */
const KEPT_KEYS = 10_000;

/** Issues, checks and revokes berth's API keys: admin keys for the control plane, runtime keys for a data plane. */
export class ApiKeyService {
  readonly #store: Store;
  readonly #runtimeExists: (name: string) => Promise<boolean>;
  /** Keys read from the store, by id, so a warm call asks it nothing; dropped on every change (`forgetKept`). */
  readonly #kept = new Map<string, ApiKeyRecord>();
  /** Raised by every revocation and every drop, so that a key read across one is not kept. */
  #generation = 0;

  constructor(store: Store, runtimeExists: (name: string) => Promise<boolean>) {
    this.#store = store;
    this.#runtimeExists = runtimeExists;
  }

  /** Makes a key from `POST /v1/keys`'s body; the answer holds the key itself, which berth never shows again. */
  async create(body: unknown): Promise<{ key: string; view: ApiKeyView }> {
    const input = parseInput(KeyInput, body, 'no key was made');
    if (input.runtime !== undefined && !(await this.#runtimeExists(input.runtime))) {
      throw new BerthError('runtime_not_found', `no runtime "${input.runtime}": deploy it before making keys for it`);
    }
    const id = randomId();
    const key = `berth_${id}_${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = {
      id,
      hash: hashOf(key),
      scope: input.runtime === undefined ? { kind: 'admin' } : { kind: 'runtime', runtime: input.runtime },
      userId: input.user ?? (input.runtime === undefined ? 'admin' : id),
      createdAt: new Date().toISOString(),
    };
    if (input.description !== undefined) record.description = input.description;
    await this.#store.putApiKey(record);
    return { key, view: viewOf(record) };
  }

  /** Keys newest first; `page` asks for one page of them. */
  async list(filter: { runtime?: string } = {}, page?: PageQuery<ApiKeyPosition>): Promise<ApiKeyView[]> {
    return (await this.#store.listApiKeys(filter, page)).map(viewOf);
  }

  async revoke(id: string): Promise<ApiKeyView> {
    const record = await this.#store.getApiKey(id);
    if (!record) throw new BerthError('not_found', `no API key ${id}`);
    if (record.revokedAt !== undefined) return viewOf(record);
    const revokedAt = new Date().toISOString();
    await this.#store.revokeApiKey(id, revokedAt);
    this.#generation++;
    this.#kept.delete(id);
    return viewOf({ ...record, revokedAt });
  }

  /** Drops the keys this node kept: one may have been revoked, or its runtime deleted, through another node. */
  forgetKept(): void {
    this.#generation++;
    this.#kept.clear();
  }

  /** True when no admin key is live: berth then makes the first one at start. */
  async needsFirstAdminKey(): Promise<boolean> {
    return !(await this.#store.listApiKeys({ admin: true })).some((record) => record.revokedAt === undefined);
  }

  /** The live key `token` is, or undefined for anything else (malformed, unknown, wrong secret, revoked). */
  async verify(token: string): Promise<ApiKeyRecord | undefined> {
    const match = KEY_FORMAT.exec(token);
    if (!match) return undefined;
    const id = match[1] as string;
    let record = this.#kept.get(id);
    if (!record) {
      const generation = this.#generation;
      record = await this.#store.getApiKey(id);
      if (!record || record.revokedAt !== undefined) return undefined;
      // A revocation or a drop while this was read may have made it stale: it answers this call, but is not kept.
      if (generation === this.#generation) {
        if (this.#kept.size >= KEPT_KEYS) this.#kept.delete(this.#kept.keys().next().value as string);
        this.#kept.set(id, record);
      }
    }
    const given = Buffer.from(hashOf(token), 'hex');
    const stored = Buffer.from(record.hash, 'hex');
    return given.length === stored.length && timingSafeEqual(given, stored) ? record : undefined;
  }
}

function hashOf(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function randomId(): string {
  let id = '';
  for (const byte of randomBytes(16)) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return id;
}

function viewOf(record: ApiKeyRecord): ApiKeyView {
  const view: ApiKeyView = { id: record.id, admin: record.scope.kind === 'admin', createdAt: record.createdAt };
  if (record.scope.kind === 'runtime') {
    view.runtime = record.scope.runtime;
    view.user = record.userId;
  }
  if (record.description !== undefined) view.description = record.description;
  if (record.revokedAt !== undefined) view.revokedAt = record.revokedAt;
  return view;
}
