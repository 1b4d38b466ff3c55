import { migrate } from './sql/migrate.ts';
import { SqlStore } from './sql/sql-store.ts';
import type { SqlDatabase } from './sql/database.ts';
import { PostgresDatabase, type PostgresOptions } from './postgres/postgres-database.ts';
import { MIGRATIONS as POSTGRES_MIGRATIONS } from './postgres/migrations.ts';
import { SqliteDatabase } from './sqlite/sqlite-database.ts';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './sqlite/migrations.ts';
import type { Store } from './store.ts';
import type { ClusterRecords } from './cluster-records.ts';
import { PostgresClusterRecords } from './postgres/cluster-records.ts';
import { PostgresSessionDirectory } from './postgres/session-directory.ts';
import { PostgresArtifactArchive } from './postgres/artifact-archive.ts';
import type { ArtifactArchive } from './artifact-archive.ts';
import type { SessionDirectoryRecords } from './session-directory.ts';

/** Where berth keeps its records: an SQLite file of its own, or a cluster's PostgreSQL by URL. */
export type StoreLocation = { sqlite: string } | { postgresql: string };

/** A node's store, and on PostgreSQL the records of the cluster that shares it: its members and its sessions' owners. */
export interface OpenedStore {
  store: Store;
  /** The database under the store, for tools that move records whole (`berth store copy`). */
  database: SqlDatabase;
  cluster?: ClusterRecords;
  directory?: SessionDirectoryRecords;
  /** Where the cluster keeps every artifact's archive for its nodes. */
  archive?: ArtifactArchive;
}

/** Opens the store at `location` and brings its schema up to date; rejects, saying why, when it cannot. */
export async function openStore(location: StoreLocation, options: PostgresOptions = {}): Promise<OpenedStore> {
  const [db, migrations] =
    'sqlite' in location
      ? [new SqliteDatabase(location.sqlite), SQLITE_MIGRATIONS]
      : [await PostgresDatabase.connect(location.postgresql, options), POSTGRES_MIGRATIONS];
  try {
    await migrate(db, migrations);
  } catch (error) {
    await db.close();
    throw error;
  }
  if (db.dialect === 'sqlite') return { store: new SqlStore(db), database: db };
  return {
    store: new SqlStore(db),
    database: db,
    cluster: new PostgresClusterRecords(db),
    directory: new PostgresSessionDirectory(db),
    archive: new PostgresArtifactArchive(db),
  };
}
