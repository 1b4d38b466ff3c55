/** Schema migrations, applied in order and never edited once released: add a new one instead. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runtimes (
     id TEXT NOT NULL UNIQUE,
     name TEXT PRIMARY KEY,
     latest_version INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE runtime_versions (
     runtime TEXT NOT NULL REFERENCES runtimes(name) ON DELETE CASCADE,
     version INTEGER NOT NULL,
     spec TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (runtime, version)
   );
   CREATE TABLE artifacts (
     id TEXT PRIMARY KEY,
     bytes INTEGER NOT NULL,
     files INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );`,
  `CREATE TABLE runtime_endpoints (
     runtime TEXT NOT NULL REFERENCES runtimes(name) ON DELETE CASCADE,
     name TEXT NOT NULL,
     id TEXT NOT NULL UNIQUE,
     target_version INTEGER NOT NULL,
     description TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (runtime, name)
   );`,
  `CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL,
     runtime TEXT REFERENCES runtimes(name) ON DELETE CASCADE,
     user_id TEXT NOT NULL,
     description TEXT,
     created_at TEXT NOT NULL,
     revoked_at TEXT
   );
   CREATE INDEX api_keys_runtime ON api_keys(runtime);`,
  `CREATE TABLE ended_sessions (
     id TEXT PRIMARY KEY,
     runtime TEXT NOT NULL,
     ended_at TEXT NOT NULL,
     record TEXT NOT NULL
   );
   CREATE INDEX ended_sessions_ended_at ON ended_sessions(ended_at);`,
];
