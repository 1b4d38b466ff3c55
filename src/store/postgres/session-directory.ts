import type { DirectoryEntry, Holding, SessionDirectoryRecords, TakeOver } from '../session-directory.ts';
import type { Row, SqlDatabase } from '../sql/database.ts';

/**
 * The session directory on PostgreSQL: one row per live session of the cluster, naming the node that holds its
 * sandbox and the epoch of that holding. Every rule is one statement or one transaction, so nodes racing on one
 * session end with one owner: a claim is an insert that wins or finds the winner, a takeover is a conditional update
 * on the epoch it saw.
 */
export class PostgresSessionDirectory implements SessionDirectoryRecords {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async claim(session: string, holding: Holding, node: string): Promise<DirectoryEntry> {
    const inserted = await this.#db.get(
      `INSERT INTO session_owners AS s (id, runtime, owner, epoch, claimed_at, version, principal) VALUES (?, ?, ?, 1, now(), ?, ?)
       ON CONFLICT (id) DO NOTHING RETURNING ${ENTRY}`,
      [session, holding.runtime, node, holding.version ?? null, holding.principal ?? null],
    );
    if (inserted) return toEntry(inserted);
    const found = await this.lookup(session);
    // Released between the insert and the read: claim again, which now finds no row or a new winner.
    return found ?? this.claim(session, holding, node);
  }

  async lookup(session: string): Promise<DirectoryEntry | undefined> {
    const row = await this.#db.get(`SELECT ${ENTRY} FROM session_owners s WHERE s.id = ?`, [session]);
    return row ? toEntry(row) : undefined;
  }

  async takeOver(session: string, seen: DirectoryEntry, node: string, holding?: Holding): Promise<TakeOver> {
    return this.#db.transaction(async (tx) => {
      // Only from an owner whose lease has run out, and only the holding this node saw: a renewal, a release or
      // another node's takeover in between makes this one fail, and the caller looks again.
      const moved = await tx.get(
        `UPDATE session_owners s SET owner = ?, epoch = s.epoch + 1, claimed_at = now(), version = ?, principal = ?
         WHERE s.id = ? AND s.owner = ? AND s.epoch = ?
           AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = s.owner AND n.lease_until > now())
         RETURNING ${ENTRY}`,
        [node, holding?.version ?? null, holding?.principal ?? null, session, seen.owner, seen.epoch],
      );
      if (!moved) return { taken: false };
      // The dead node's row goes with its first lost session: if it wakes, its next renewal tells it so.
      await tx.run('DELETE FROM nodes WHERE id = ? AND lease_until <= now()', [seen.owner]);
      return { taken: true, entry: toEntry(moved) };
    });
  }

  async release(session: string, node: string, epoch: number): Promise<boolean> {
    return (await this.#db.run('DELETE FROM session_owners WHERE id = ? AND owner = ? AND epoch = ?', [session, node, epoch])) > 0;
  }

  async owned(node: string): Promise<DirectoryEntry[]> {
    return (await this.#db.all(`SELECT ${ENTRY} FROM session_owners s WHERE s.owner = ? ORDER BY s.id`, [node])).map(toEntry);
  }
}

/** The columns of an entry, with whether its owner's lease runs (false for an owner gone from `nodes`). */
const ENTRY = `s.id, s.runtime, s.owner, s.epoch, s.version, s.principal,
  (SELECT n2.url FROM nodes n2 WHERE n2.id = s.owner) AS owner_url,
  COALESCE((SELECT n3.lease_until > now() FROM nodes n3 WHERE n3.id = s.owner), false) AS owner_live`;

function toEntry(row: Row): DirectoryEntry {
  const entry: DirectoryEntry = {
    session: String(row.id),
    runtime: String(row.runtime),
    owner: String(row.owner),
    epoch: Number(row.epoch),
    ownerLive: row.owner_live === true,
  };
  if (row.owner_url !== null && row.owner_url !== undefined) entry.ownerUrl = String(row.owner_url);
  if (row.version !== null && row.version !== undefined) entry.version = Number(row.version);
  if (row.principal !== null && row.principal !== undefined) entry.principal = String(row.principal);
  return entry;
}
