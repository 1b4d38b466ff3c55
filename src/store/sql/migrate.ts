import type { SqlDatabase } from './database.ts';

/**
 * Brings the database's schema to the newest of `migrations` (applied in order, never edited once released: add a
 * new one instead). One exclusive transaction does it all, so nodes that start together apply each migration once
 * and none sees half of one; a database newer than this berth is refused rather than touched.
 */
export async function migrate(db: SqlDatabase, migrations: readonly string[]): Promise<void> {
  await db.transaction(
    async (tx) => {
      await tx.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
      const row = await tx.get('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations');
      const current = Number(row?.v ?? 0);
      if (current > migrations.length) {
        throw new Error(`the store is at schema version ${current}, newer than this berth knows (${migrations.length}); upgrade berth`);
      }
      for (let version = current + 1; version <= migrations.length; version++) {
        await tx.exec(migrations[version - 1] as string);
        await tx.run('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [version, new Date().toISOString()]);
      }
    },
    { exclusive: true },
  );
}
