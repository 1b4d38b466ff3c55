import { randomBytes } from 'node:crypto';
import { BerthError } from '../../core/errors.ts';
import type {
  ApiKeyPosition,
  ApiKeyRecord,
  ArtifactRecord,
  EndedSessionRecord,
  EndpointRecord,
  PageQuery,
  RuntimeRecord,
  RuntimeSpec,
  Store,
  VersionPageQuery,
  VersionRecord,
} from '../store.ts';
import type { Row, SqlDatabase, SqlValue } from './database.ts';

/** An SQL condition and the values of its placeholders. */
type Condition = readonly [sql: string, ...values: SqlValue[]];

/**
 * berth's store on an SQL database: SQLite for one node, PostgreSQL for a cluster, with the same statements and the
 * same answers. Each write is one statement or one transaction, safe against other nodes writing at once: a
 * version's number comes from the row it raises, an endpoint is one upsert.
 */
export class SqlStore implements Store {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  /**
   * The rows of `table` meeting every condition, in `order`, at most `limit` of them. A page's keyset is one more
   * condition, so every list pages with a range scan of the index its order follows.
   */
  async #select(table: string, conditions: readonly Condition[], order: string, limit?: number): Promise<Row[]> {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new BerthError('internal', `a page holds 1 or more items, not ${limit}`);
    const where = conditions.length === 0 ? '' : ` WHERE ${conditions.map(([sql]) => sql).join(' AND ')}`;
    const values = conditions.flatMap(([, ...rest]) => rest);
    return this.#db.all(`SELECT * FROM ${table}${where} ORDER BY ${order}${limit === undefined ? '' : ' LIMIT ?'}`, [
      ...values,
      ...(limit === undefined ? [] : [limit]),
    ]);
  }

  putVersion(name: string, spec: RuntimeSpec): Promise<VersionRecord> {
    return this.#db.transaction(async (tx) => {
      const at = now();
      await tx.run('INSERT INTO runtimes (id, name, latest_version, created_at, updated_at) VALUES (?, ?, 0, ?, ?) ON CONFLICT (name) DO NOTHING', [
        `${name.replaceAll('-', '_')}-${randomSuffix()}`,
        name,
        at,
        at,
      ]);
      // The row lock this takes orders deploys of one runtime from any node: each gets the number after the last.
      const raised = await tx.get('UPDATE runtimes SET latest_version = latest_version + 1, updated_at = ? WHERE name = ? RETURNING latest_version', [
        at,
        name,
      ]);
      const version = Number(raised?.latest_version);
      await tx.run('INSERT INTO runtime_versions (runtime, version, spec, created_at) VALUES (?, ?, ?, ?)', [name, version, JSON.stringify(spec), at]);
      return { runtime: name, version, spec, createdAt: at };
    });
  }

  async getRuntime(name: string): Promise<RuntimeRecord | undefined> {
    const row = await this.#db.get('SELECT * FROM runtimes WHERE name = ?', [name]);
    return row ? toRuntime(row) : undefined;
  }

  async listRuntimes(page?: PageQuery<string>): Promise<RuntimeRecord[]> {
    const conditions: Condition[] = page?.after === undefined ? [] : [['name > ?', beforeNul(page.after)]];
    return (await this.#select('runtimes', conditions, 'name', page?.limit)).map(toRuntime);
  }

  async getVersion(name: string, version: number): Promise<VersionRecord | undefined> {
    const row = await this.#db.get('SELECT * FROM runtime_versions WHERE runtime = ? AND version = ?', [name, version]);
    return row ? toVersion(row) : undefined;
  }

  async listVersions(name: string, page?: VersionPageQuery): Promise<VersionRecord[]> {
    const newestFirst = page?.newestFirst === true;
    const conditions: Condition[] = [['runtime = ?', name]];
    if (page?.after !== undefined) conditions.push([newestFirst ? 'version < ?' : 'version > ?', page.after]);
    return (await this.#select('runtime_versions', conditions, newestFirst ? 'version DESC' : 'version', page?.limit)).map(toVersion);
  }

  deleteRuntime(name: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      await tx.run('DELETE FROM runtime_endpoints WHERE runtime = ?', [name]);
      // A runtime made again under the same name must not open to the old one's keys.
      await tx.run('DELETE FROM api_keys WHERE runtime = ?', [name]);
      await tx.run('DELETE FROM runtime_versions WHERE runtime = ?', [name]);
      return (await tx.run('DELETE FROM runtimes WHERE name = ?', [name])) > 0;
    });
  }

  async getRuntimeById(id: string): Promise<RuntimeRecord | undefined> {
    const row = await this.#db.get('SELECT * FROM runtimes WHERE id = ?', [id]);
    return row ? toRuntime(row) : undefined;
  }

  async putEndpoint(runtime: string, name: string, targetVersion: number, description?: string): Promise<EndpointRecord> {
    const at = now();
    // One upsert: two nodes creating the same endpoint at once end with one, and a move keeps its id.
    const row = await this.#db.get(
      `INSERT INTO runtime_endpoints (runtime, name, id, target_version, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (runtime, name) DO UPDATE SET target_version = excluded.target_version,
         description = COALESCE(excluded.description, runtime_endpoints.description), updated_at = excluded.updated_at
       RETURNING *`,
      [runtime, name, `${name.replaceAll('-', '_')}-${randomSuffix()}`, targetVersion, description ?? null, at, at],
    );
    return toEndpoint(row as Row);
  }

  async getEndpoint(runtime: string, name: string): Promise<EndpointRecord | undefined> {
    const row = await this.#db.get('SELECT * FROM runtime_endpoints WHERE runtime = ? AND name = ?', [runtime, name]);
    return row ? toEndpoint(row) : undefined;
  }

  async listEndpoints(runtime: string, page?: PageQuery<string>): Promise<EndpointRecord[]> {
    const conditions: Condition[] = [['runtime = ?', runtime]];
    if (page?.after !== undefined) conditions.push(['name > ?', beforeNul(page.after)]);
    return (await this.#select('runtime_endpoints', conditions, 'name', page?.limit)).map(toEndpoint);
  }

  async deleteEndpoint(runtime: string, name: string): Promise<boolean> {
    return (await this.#db.run('DELETE FROM runtime_endpoints WHERE runtime = ? AND name = ?', [runtime, name])) > 0;
  }

  async putArtifact(record: ArtifactRecord): Promise<void> {
    // An uploaded artifact is named by its bytes: the same upload again, through any node, is the record already kept.
    await this.#db.run('INSERT INTO artifacts (id, bytes, files, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING', [
      record.id,
      record.bytes,
      record.files,
      record.createdAt,
    ]);
  }

  async getArtifact(id: string): Promise<ArtifactRecord | undefined> {
    const row = await this.#db.get('SELECT * FROM artifacts WHERE id = ?', [id]);
    return row ? { id: String(row.id), bytes: Number(row.bytes), files: Number(row.files), createdAt: String(row.created_at) } : undefined;
  }

  async putEndedSession(record: EndedSessionRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO ended_sessions (id, runtime, ended_at, record) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET runtime = excluded.runtime, ended_at = excluded.ended_at, record = excluded.record
       WHERE ended_sessions.ended_at <= excluded.ended_at`,
      [record.id, record.runtime, record.endedAt, JSON.stringify(record)],
    );
  }

  async getEndedSession(id: string): Promise<EndedSessionRecord | undefined> {
    const row = await this.#db.get('SELECT record FROM ended_sessions WHERE id = ?', [id]);
    return row ? (JSON.parse(String(row.record)) as EndedSessionRecord) : undefined;
  }

  async pruneEndedSessions(before: string): Promise<number> {
    return this.#db.run('DELETE FROM ended_sessions WHERE ended_at < ?', [before]);
  }

  async putApiKey(record: ApiKeyRecord): Promise<void> {
    await this.#db.run('INSERT INTO api_keys (id, hash, runtime, user_id, description, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      record.id,
      record.hash,
      record.scope.kind === 'runtime' ? record.scope.runtime : null,
      record.userId,
      record.description ?? null,
      record.createdAt,
      record.revokedAt ?? null,
    ]);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.#db.get('SELECT * FROM api_keys WHERE id = ?', [id]);
    return row ? toApiKey(row) : undefined;
  }

  async listApiKeys(filter: { runtime?: string; admin?: boolean } = {}, page?: PageQuery<ApiKeyPosition>): Promise<ApiKeyRecord[]> {
    const conditions: Condition[] = [];
    if (filter.runtime !== undefined) conditions.push(['runtime = ?', filter.runtime]);
    else if (filter.admin) conditions.push(['runtime IS NULL']);
    const after = page?.after;
    // Newest first, and among keys made in the same millisecond by id: after a key come older ones, then its twins.
    if (after !== undefined) {
      const createdAt = beforeNul(after.createdAt);
      if (createdAt !== after.createdAt) conditions.push(['created_at <= ?', createdAt]);
      else conditions.push(['(created_at < ? OR (created_at = ? AND id > ?))', createdAt, createdAt, beforeNul(after.id)]);
    }
    return (await this.#select('api_keys', conditions, 'created_at DESC, id', page?.limit)).map(toApiKey);
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    return (await this.#db.run('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [at, id])) > 0;
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

/**
 * A page key as far as its first NUL: PostgreSQL's text cannot hold one, and for keys that hold none (every stored
 * one) `key > 'ab\0…'` is `key > 'ab'` and `key < 'ab\0…'` is `key <= 'ab'`, so the page is the same.
 */
function beforeNul(key: string): string {
  const at = key.indexOf('\u0000');
  return at === -1 ? key : key.slice(0, at);
}

function now(): string {
  return new Date().toISOString();
}

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomSuffix(): string {
  let out = '';
  for (const byte of randomBytes(10)) out += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  return out;
}

function toRuntime(row: Row): RuntimeRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    latestVersion: Number(row.latest_version),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

function toEndpoint(row: Row): EndpointRecord {
  const record: EndpointRecord = {
    runtime: String(row.runtime),
    name: String(row.name),
    id: String(row.id),
    targetVersion: Number(row.target_version),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
  if (row.description !== null && row.description !== undefined) record.description = String(row.description);
  return record;
}

function toApiKey(row: Row): ApiKeyRecord {
  const record: ApiKeyRecord = {
    id: String(row.id),
    hash: String(row.hash),
    scope: row.runtime === null ? { kind: 'admin' } : { kind: 'runtime', runtime: String(row.runtime) },
    userId: String(row.user_id),
    createdAt: String(row.created_at),
  };
  if (row.description !== null) record.description = String(row.description);
  if (row.revoked_at !== null) record.revokedAt = String(row.revoked_at);
  return record;
}

function toVersion(row: Row): VersionRecord {
  let spec: RuntimeSpec;
  try {
    // Fields added after a version was stored take their defaults.
    spec = { serverEra: 'auto', ...(JSON.parse(String(row.spec)) as Partial<RuntimeSpec>) } as RuntimeSpec;
  } catch (error) {
    throw new BerthError('internal', `stored spec of ${String(row.runtime)} v${String(row.version)} is unreadable`, { cause: error });
  }
  return { runtime: String(row.runtime), version: Number(row.version), spec, createdAt: String(row.created_at) };
}
