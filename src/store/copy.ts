import type { ArtifactStore } from './artifacts.ts';
import type { Row, SqlDatabase, SqlExecutor, SqlValue } from './sql/database.ts';

/** What `copyStore` moves, table by table, in the order their references need. */
const TABLES = [
  { name: 'runtimes', key: ['name'], columns: ['id', 'name', 'latest_version', 'created_at', 'updated_at'] },
  { name: 'artifacts', key: ['id'], columns: ['id', 'bytes', 'files', 'created_at'] },
  { name: 'runtime_versions', key: ['runtime', 'version'], columns: ['runtime', 'version', 'spec', 'created_at'] },
  {
    name: 'runtime_endpoints',
    key: ['runtime', 'name'],
    columns: ['runtime', 'name', 'id', 'target_version', 'description', 'created_at', 'updated_at'],
    // An endpoint moved on the node since an earlier copy moves in the cluster too, unless moved there later.
    update: `target_version = excluded.target_version, description = excluded.description, updated_at = excluded.updated_at
             WHERE runtime_endpoints.id = excluded.id AND runtime_endpoints.updated_at < excluded.updated_at`,
  },
  {
    name: 'api_keys',
    key: ['id'],
    columns: ['id', 'hash', 'runtime', 'user_id', 'description', 'created_at', 'revoked_at'],
    // A key revoked on the node since an earlier copy is revoked in the cluster too.
    update: 'revoked_at = excluded.revoked_at WHERE api_keys.revoked_at IS NULL AND excluded.revoked_at IS NOT NULL',
  },
  {
    name: 'ended_sessions',
    key: ['id'],
    columns: ['id', 'runtime', 'ended_at', 'record'],
    update: 'runtime = excluded.runtime, ended_at = excluded.ended_at, record = excluded.record WHERE ended_sessions.ended_at < excluded.ended_at',
  },
] as const satisfies ReadonlyArray<{ name: string; key: readonly string[]; columns: readonly string[]; update?: string }>;

export interface CopyOptions {
  from: SqlDatabase;
  to: SqlDatabase;
  /** The source's artifacts, whose archives the target's nodes fetch (`keep`). */
  artifacts: ArtifactStore;
  /** A version's spec (JSON) with its secret variables sealed again under the target's secret key. */
  reseal: (runtime: string, spec: string) => string;
}

/** How many rows of each table were written (new, or brought up to date), and how many the target had as they are. */
export type CopyReport = Record<string, { copied: number; present: number }>;

/** Rows of the source that the target holds otherwise: copying would lose one or the other. */
export class CopyConflict extends Error {}

/**
 * Copies one node's records (an SQLite home) into a cluster's store (PostgreSQL), losing nothing: runtimes with
 * their ids, every version (its secrets sealed again for the cluster), endpoints, artifacts (their archives too,
 * so every node can fetch the code), API keys (the hashes: every key keeps working), and ended sessions' records.
 * It can run again: what the target already holds of the source is left as it is, but for what changed on the
 * node since (an endpoint moved, a key revoked, a later end); a runtime deleted on the node is not deleted in the
 * cluster. A record the target holds otherwise (a runtime of the same name made in the cluster, another key under the same id) stops the copy before
 * anything is written, naming each.
 */
export async function copyStore({ from, to, artifacts, reseal }: CopyOptions): Promise<CopyReport> {
  // Read in one transaction: one moment of the source, even if a node still writes to it.
  const rows = await from.transaction(async (tx) => {
    const read = new Map<string, Row[]>();
    for (const table of TABLES) read.set(table.name, await tx.all(`SELECT ${table.columns.join(', ')} FROM ${table.name}`));
    return read;
  });
  const conflicts = await findConflicts(to, rows);
  if (conflicts.length > 0) throw new CopyConflict(`the target store holds records that differ from the source's:\n  ${conflicts.join('\n  ')}`);
  // The code first: no node of the cluster may see a version whose code it cannot fetch.
  for (const artifact of rows.get('artifacts') ?? []) await artifacts.keep(String(artifact.id));
  const report: CopyReport = {};
  await to.transaction(async (tx) => {
    for (const table of TABLES) {
      let copied = 0;
      const all = rows.get(table.name) ?? [];
      for (const row of all) {
        const values = table.columns.map((column) => (row[column] ?? null) as SqlValue);
        if (table.name === 'runtime_versions') values[2] = reseal(String(row.runtime), String(row.spec));
        copied += await insert(tx, table, values);
      }
      report[table.name] = { copied, present: all.length - copied };
    }
    // A runtime deployed again on the node since an earlier copy: its newest version is the one the cluster numbers on from.
    for (const runtime of rows.get('runtimes') ?? []) {
      await tx.run('UPDATE runtimes SET latest_version = ? WHERE name = ? AND id = ? AND latest_version < ?', [
        Number(runtime.latest_version),
        String(runtime.name),
        String(runtime.id),
        Number(runtime.latest_version),
      ]);
    }
  });
  return report;
}

async function insert(tx: SqlExecutor, table: (typeof TABLES)[number], values: SqlValue[]): Promise<number> {
  const placeholders = table.columns.map(() => '?').join(', ');
  const onConflict = 'update' in table ? `DO UPDATE SET ${table.update}` : 'DO NOTHING';
  return tx.run(`INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES (${placeholders}) ON CONFLICT (${table.key.join(', ')}) ${onConflict}`, values);
}

/** Each source row whose key the target holds with other contents that matter (an id, a hash). */
async function findConflicts(to: SqlDatabase, rows: Map<string, Row[]>): Promise<string[]> {
  const conflicts: string[] = [];
  for (const runtime of rows.get('runtimes') ?? []) {
    const byName = await to.get('SELECT id FROM runtimes WHERE name = ?', [String(runtime.name)]);
    if (byName && byName.id !== runtime.id) conflicts.push(`runtime "${String(runtime.name)}" exists in the target as another runtime (${String(byName.id)})`);
    const byId = await to.get('SELECT name FROM runtimes WHERE id = ?', [String(runtime.id)]);
    if (byId && byId.name !== runtime.name) conflicts.push(`runtime id ${String(runtime.id)} belongs to runtime "${String(byId.name)}" in the target`);
  }
  for (const version of rows.get('runtime_versions') ?? []) {
    const found = await to.get('SELECT created_at FROM runtime_versions WHERE runtime = ? AND version = ?', [String(version.runtime), Number(version.version)]);
    if (found && found.created_at !== version.created_at) {
      conflicts.push(`version ${String(version.version)} of runtime "${String(version.runtime)}" is another deploy in the target`);
    }
  }
  for (const endpoint of rows.get('runtime_endpoints') ?? []) {
    const found = await to.get('SELECT id FROM runtime_endpoints WHERE runtime = ? AND name = ?', [String(endpoint.runtime), String(endpoint.name)]);
    if (found && found.id !== endpoint.id)
      conflicts.push(`endpoint "${String(endpoint.name)}" of runtime "${String(endpoint.runtime)}" is another endpoint in the target`);
  }
  for (const key of rows.get('api_keys') ?? []) {
    const found = await to.get('SELECT hash FROM api_keys WHERE id = ?', [String(key.id)]);
    if (found && found.hash !== key.hash) conflicts.push(`API key ${String(key.id)} is another key in the target`);
  }
  return conflicts;
}
