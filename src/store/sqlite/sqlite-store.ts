import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../core/errors.ts';
import type {
  ApiKeyPosition,
  ApiKeyRecord,
  ArtifactRecord,
  EndpointRecord,
  PageQuery,
  RuntimeRecord,
  RuntimeSpec,
  Store,
  VersionPageQuery,
  VersionRecord,
} from '../store.ts';
import { MIGRATIONS } from './migrations.ts';

type Row = Record<string, unknown>;
/** An SQL condition and the values of its placeholders. */
type Condition = readonly [sql: string, ...values: SQLInputValue[]];

/**
 * The embedded store: one SQLite file in berth's home. WAL with `synchronous=FULL` makes every committed change
 * survive a crash of berth or of the machine; migrations run in order inside a transaction at open.
 */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(file: string) {
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // The store holds every runtime's environment (often secrets). SQLite gives its WAL and shared-memory
      // files the database file's mode, so making the file owner-only first covers all three.
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
    }
    this.#db = new DatabaseSync(file);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
    this.#migrate();
  }

  #migrate(): void {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const row = this.#db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as Row;
    const current = Number(row.v);
    if (current > MIGRATIONS.length) {
      throw new Error(`the store is at schema version ${current}, newer than this berth knows (${MIGRATIONS.length}); upgrade berth`);
    }
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      this.#transaction(() => {
        this.#db.exec(MIGRATIONS[version - 1] as string);
        this.#db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(version, now());
      });
    }
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * The rows of `table` meeting every condition, in `order`, at most `limit` of them. A page's keyset is one more
   * condition, so every list pages with a range scan of the index its order follows.
   */
  #select(table: string, conditions: readonly Condition[], order: string, limit?: number): Row[] {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new BerthError('internal', `a page holds 1 or more items, not ${limit}`);
    const where = conditions.length === 0 ? '' : ` WHERE ${conditions.map(([sql]) => sql).join(' AND ')}`;
    const values = conditions.flatMap(([, ...rest]) => rest);
    const statement = this.#prepare(`SELECT * FROM ${table}${where} ORDER BY ${order}${limit === undefined ? '' : ' LIMIT ?'}`);
    return statement.all(...values, ...(limit === undefined ? [] : [limit])) as Row[];
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  putVersion(name: string, spec: RuntimeSpec): VersionRecord {
    return this.#transaction(() => {
      const at = now();
      const existing = this.getRuntime(name);
      const version = existing ? existing.latestVersion + 1 : 1;
      if (existing) {
        this.#prepare('UPDATE runtimes SET latest_version = ?, updated_at = ? WHERE name = ?').run(version, at, name);
      } else {
        this.#prepare('INSERT INTO runtimes (id, name, latest_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(
          `${name.replaceAll('-', '_')}-${randomSuffix()}`,
          name,
          version,
          at,
          at,
        );
      }
      this.#prepare('INSERT INTO runtime_versions (runtime, version, spec, created_at) VALUES (?, ?, ?, ?)').run(name, version, JSON.stringify(spec), at);
      return { runtime: name, version, spec, createdAt: at };
    });
  }

  getRuntime(name: string): RuntimeRecord | undefined {
    const row = this.#prepare('SELECT * FROM runtimes WHERE name = ?').get(name) as Row | undefined;
    return row ? toRuntime(row) : undefined;
  }

  listRuntimes(page?: PageQuery<string>): RuntimeRecord[] {
    const conditions: Condition[] = page?.after === undefined ? [] : [['name > ?', page.after]];
    return this.#select('runtimes', conditions, 'name', page?.limit).map(toRuntime);
  }

  getVersion(name: string, version: number): VersionRecord | undefined {
    const row = this.#prepare('SELECT * FROM runtime_versions WHERE runtime = ? AND version = ?').get(name, version) as Row | undefined;
    return row ? toVersion(row) : undefined;
  }

  listVersions(name: string, page?: VersionPageQuery): VersionRecord[] {
    const newestFirst = page?.newestFirst === true;
    const conditions: Condition[] = [['runtime = ?', name]];
    if (page?.after !== undefined) conditions.push([newestFirst ? 'version < ?' : 'version > ?', page.after]);
    return this.#select('runtime_versions', conditions, newestFirst ? 'version DESC' : 'version', page?.limit).map(toVersion);
  }

  deleteRuntime(name: string): boolean {
    return this.#transaction(() => {
      this.#prepare('DELETE FROM runtime_endpoints WHERE runtime = ?').run(name);
      // A runtime made again under the same name must not open to the old one's keys.
      this.#prepare('DELETE FROM api_keys WHERE runtime = ?').run(name);
      this.#prepare('DELETE FROM runtime_versions WHERE runtime = ?').run(name);
      return Number(this.#prepare('DELETE FROM runtimes WHERE name = ?').run(name).changes) > 0;
    });
  }

  getRuntimeById(id: string): RuntimeRecord | undefined {
    const row = this.#prepare('SELECT * FROM runtimes WHERE id = ?').get(id) as Row | undefined;
    return row ? toRuntime(row) : undefined;
  }

  putEndpoint(runtime: string, name: string, targetVersion: number, description?: string): EndpointRecord {
    return this.#transaction(() => {
      const at = now();
      const existing = this.getEndpoint(runtime, name);
      if (existing) {
        this.#prepare('UPDATE runtime_endpoints SET target_version = ?, description = ?, updated_at = ? WHERE runtime = ? AND name = ?').run(
          targetVersion,
          description ?? existing.description ?? null,
          at,
          runtime,
          name,
        );
      } else {
        this.#prepare(
          'INSERT INTO runtime_endpoints (runtime, name, id, target_version, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        ).run(runtime, name, `${name.replaceAll('-', '_')}-${randomSuffix()}`, targetVersion, description ?? null, at, at);
      }
      return this.getEndpoint(runtime, name) as EndpointRecord;
    });
  }

  getEndpoint(runtime: string, name: string): EndpointRecord | undefined {
    const row = this.#prepare('SELECT * FROM runtime_endpoints WHERE runtime = ? AND name = ?').get(runtime, name) as Row | undefined;
    return row ? toEndpoint(row) : undefined;
  }

  listEndpoints(runtime: string, page?: PageQuery<string>): EndpointRecord[] {
    const conditions: Condition[] = [['runtime = ?', runtime]];
    if (page?.after !== undefined) conditions.push(['name > ?', page.after]);
    return this.#select('runtime_endpoints', conditions, 'name', page?.limit).map(toEndpoint);
  }

  deleteEndpoint(runtime: string, name: string): boolean {
    return Number(this.#prepare('DELETE FROM runtime_endpoints WHERE runtime = ? AND name = ?').run(runtime, name).changes) > 0;
  }

  putArtifact(record: ArtifactRecord): void {
    this.#prepare('INSERT INTO artifacts (id, bytes, files, created_at) VALUES (?, ?, ?, ?)').run(record.id, record.bytes, record.files, record.createdAt);
  }

  getArtifact(id: string): ArtifactRecord | undefined {
    const row = this.#prepare('SELECT * FROM artifacts WHERE id = ?').get(id) as Row | undefined;
    return row ? { id: String(row.id), bytes: Number(row.bytes), files: Number(row.files), createdAt: String(row.created_at) } : undefined;
  }

  putApiKey(record: ApiKeyRecord): void {
    this.#prepare('INSERT INTO api_keys (id, hash, runtime, user_id, description, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      record.id,
      record.hash,
      record.scope.kind === 'runtime' ? record.scope.runtime : null,
      record.userId,
      record.description ?? null,
      record.createdAt,
      record.revokedAt ?? null,
    );
  }

  getApiKey(id: string): ApiKeyRecord | undefined {
    const row = this.#prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as Row | undefined;
    return row ? toApiKey(row) : undefined;
  }

  listApiKeys(filter: { runtime?: string; admin?: boolean } = {}, page?: PageQuery<ApiKeyPosition>): ApiKeyRecord[] {
    const conditions: Condition[] = [];
    if (filter.runtime !== undefined) conditions.push(['runtime = ?', filter.runtime]);
    else if (filter.admin) conditions.push(['runtime IS NULL']);
    const after = page?.after;
    // Newest first, and among keys made in the same millisecond by id: after a key come older ones, then its twins.
    if (after !== undefined) conditions.push(['(created_at < ? OR (created_at = ? AND id > ?))', after.createdAt, after.createdAt, after.id]);
    return this.#select('api_keys', conditions, 'created_at DESC, id', page?.limit).map(toApiKey);
  }

  revokeApiKey(id: string, at: string): boolean {
    return Number(this.#prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes) > 0;
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }
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
