/**
 * The cluster store's schema, applied in order and never edited once released: add a new one instead. It holds what
 * the embedded store's migrations hold (`../sqlite/migrations.ts`), in PostgreSQL's terms: text keys compare by code
 * point (`COLLATE "C"`), as the store's pages promise, whatever the database's own collation.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runtimes (
     id TEXT COLLATE "C" NOT NULL UNIQUE,
     name TEXT COLLATE "C" PRIMARY KEY,
     latest_version INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE runtime_versions (
     runtime TEXT COLLATE "C" NOT NULL REFERENCES runtimes(name) ON DELETE CASCADE,
     version INTEGER NOT NULL,
     spec TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (runtime, version)
   );
   CREATE TABLE artifacts (
     id TEXT COLLATE "C" PRIMARY KEY,
     bytes BIGINT NOT NULL,
     files INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE runtime_endpoints (
     runtime TEXT COLLATE "C" NOT NULL REFERENCES runtimes(name) ON DELETE CASCADE,
     name TEXT COLLATE "C" NOT NULL,
     id TEXT COLLATE "C" NOT NULL UNIQUE,
     target_version INTEGER NOT NULL,
     description TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (runtime, name)
   );
   CREATE TABLE api_keys (
     id TEXT COLLATE "C" PRIMARY KEY,
     hash TEXT NOT NULL,
     runtime TEXT COLLATE "C" REFERENCES runtimes(name) ON DELETE CASCADE,
     user_id TEXT NOT NULL,
     description TEXT,
     created_at TEXT COLLATE "C" NOT NULL,
     revoked_at TEXT
   );
   CREATE INDEX api_keys_runtime ON api_keys(runtime);`,
  `CREATE TABLE nodes (
     id TEXT COLLATE "C" PRIMARY KEY,
     url TEXT NOT NULL,
     state TEXT NOT NULL,
     started_at TIMESTAMPTZ NOT NULL,
     lease_until TIMESTAMPTZ NOT NULL,
     capacity INTEGER NOT NULL,
     sessions INTEGER NOT NULL
   );
   CREATE TABLE cluster_settings (
     name TEXT COLLATE "C" PRIMARY KEY,
     value TEXT NOT NULL
   );`,
  `CREATE TABLE session_owners (
     id TEXT COLLATE "C" PRIMARY KEY,
     runtime TEXT COLLATE "C" NOT NULL,
     owner TEXT COLLATE "C" NOT NULL,
     epoch BIGINT NOT NULL,
     claimed_at TIMESTAMPTZ NOT NULL
   );
   CREATE INDEX session_owners_owner ON session_owners(owner);`,
  `CREATE TABLE ended_sessions (
     id TEXT COLLATE "C" PRIMARY KEY,
     runtime TEXT COLLATE "C" NOT NULL,
     ended_at TEXT COLLATE "C" NOT NULL,
     record TEXT NOT NULL
   );
   CREATE INDEX ended_sessions_ended_at ON ended_sessions(ended_at);
   ALTER TABLE session_owners ADD COLUMN version INTEGER;
   ALTER TABLE session_owners ADD COLUMN principal TEXT;`,
  `CREATE TABLE artifact_archives (
     id TEXT COLLATE "C" PRIMARY KEY,
     sha256 TEXT NOT NULL,
     bytes BIGINT NOT NULL
   );
   CREATE TABLE artifact_chunks (
     id TEXT COLLATE "C" NOT NULL REFERENCES artifact_archives(id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     data BYTEA NOT NULL,
     PRIMARY KEY (id, seq)
   );`,
  // Every write to what nodes keep in memory (runtimes, versions, endpoints, keys) counts one change, which each
  // node watches to drop what it kept.
  `CREATE TABLE control_changes (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     seq BIGINT NOT NULL
   );
   INSERT INTO control_changes (id, seq) VALUES (1, 0);
   CREATE FUNCTION berth_control_changed() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     UPDATE control_changes SET seq = seq + 1 WHERE id = 1;
     RETURN NULL;
   END
   $$;
   CREATE TRIGGER runtimes_changed AFTER INSERT OR UPDATE OR DELETE ON runtimes FOR EACH STATEMENT EXECUTE FUNCTION berth_control_changed();
   CREATE TRIGGER runtime_versions_changed AFTER INSERT OR UPDATE OR DELETE ON runtime_versions FOR EACH STATEMENT EXECUTE FUNCTION berth_control_changed();
   CREATE TRIGGER runtime_endpoints_changed AFTER INSERT OR UPDATE OR DELETE ON runtime_endpoints FOR EACH STATEMENT EXECUTE FUNCTION berth_control_changed();
   CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION berth_control_changed();`,
  `CREATE TABLE rate_demand (
     key TEXT COLLATE "C" NOT NULL,
     node TEXT COLLATE "C" NOT NULL,
     per_second DOUBLE PRECISION NOT NULL,
     at TIMESTAMPTZ NOT NULL,
     PRIMARY KEY (key, node)
   );
   CREATE INDEX rate_demand_at ON rate_demand(at);`,
];
