import type { ClusterRecords, NodeLoad, NodeRecord, NodeState } from '../cluster-records.ts';
import type { Row, SqlDatabase } from '../sql/database.ts';

/** The cluster's records on PostgreSQL (its tables are in `migrations.ts`); every time is the store's own `now()`. */
export class PostgresClusterRecords implements ClusterRecords {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async join(node: { id: string; url: string; capacity: number }, leaseMs: number): Promise<void> {
    await this.#db.run(
      `INSERT INTO nodes (id, url, state, started_at, lease_until, capacity, sessions)
       VALUES (?, ?, 'live', now(), now() + make_interval(secs => ?), ?, 0)`,
      [node.id, node.url, leaseMs / 1000, node.capacity],
    );
  }

  async renew(id: string, leaseMs: number, load: NodeLoad): Promise<boolean> {
    const changed = await this.#db.run('UPDATE nodes SET lease_until = now() + make_interval(secs => ?), state = ?, sessions = ? WHERE id = ?', [
      leaseMs / 1000,
      load.state,
      load.sessions,
      id,
    ]);
    return changed > 0;
  }

  async leave(id: string): Promise<void> {
    await this.#db.run('DELETE FROM nodes WHERE id = ?', [id]);
  }

  async nodes(): Promise<NodeRecord[]> {
    const rows = await this.#db.all(
      `SELECT id, url, state, capacity, sessions, lease_until > now() AS lease_running,
         to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at,
         to_char(lease_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS lease_until
       FROM nodes ORDER BY id`,
    );
    return rows.map(toNode);
  }

  async agree(name: string, value: string): Promise<string> {
    await this.#db.run('INSERT INTO cluster_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', [name, value]);
    const row = await this.#db.get('SELECT value FROM cluster_settings WHERE name = ?', [name]);
    return String(row?.value);
  }

  async shareDemand(node: string, demand: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    const rows = await this.#db.transaction(async (tx) => {
      for (const [key, perSecond] of demand) {
        await tx.run(
          `INSERT INTO rate_demand (key, node, per_second, at) VALUES (?, ?, ?, now())
           ON CONFLICT (key, node) DO UPDATE SET per_second = excluded.per_second, at = excluded.at`,
          [key, node, perSecond],
        );
      }
      // Demand older than a few seconds, or of a node whose lease ran out, is nobody's now.
      await tx.run("DELETE FROM rate_demand WHERE at < now() - interval '10 seconds'");
      return tx.all(
        `SELECT r.key, sum(r.per_second) AS total FROM rate_demand r JOIN nodes n ON n.id = r.node AND n.lease_until > now()
         WHERE r.at > now() - interval '3 seconds' GROUP BY r.key`,
      );
    });
    return new Map(rows.map((row) => [String(row.key), Number(row.total)]));
  }

  async controlChanges(): Promise<number> {
    return Number((await this.#db.get('SELECT seq FROM control_changes WHERE id = 1'))?.seq);
  }
}

function toNode(row: Row): NodeRecord {
  return {
    id: String(row.id),
    url: String(row.url),
    state: String(row.state) as NodeState,
    startedAt: String(row.started_at),
    leaseUntil: String(row.lease_until),
    leaseRunning: row.lease_running === true,
    capacity: Number(row.capacity),
    sessions: Number(row.sessions),
  };
}
