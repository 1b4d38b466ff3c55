/**
 * What berth's SQL store needs of a database, so that one store (`SqlStore`) runs on SQLite and PostgreSQL alike.
 * Statements are written once, with `?` placeholders; each database turns them into its own.
 */

/** A value bound to a placeholder (bytes for a binary column). */
export type SqlValue = string | number | null | Uint8Array;

/** A row as the database returns it: callers convert each column (PostgreSQL's BIGINT arrives as a string). */
export type Row = Record<string, unknown>;

/** Runs statements, on the database or inside one transaction. */
export interface SqlExecutor {
  all(sql: string, values?: readonly SqlValue[]): Promise<Row[]>;
  get(sql: string, values?: readonly SqlValue[]): Promise<Row | undefined>;
  /** Runs a statement that changes rows; resolves to how many it changed. */
  run(sql: string, values?: readonly SqlValue[]): Promise<number>;
  /** Runs statements without placeholders, several at once (a migration). */
  exec(sql: string): Promise<void>;
}

export interface SqlDatabase extends SqlExecutor {
  readonly dialect: 'sqlite' | 'postgresql';
  /** Statements sent to the database so far (a transaction's BEGIN and COMMIT each count): what berth asks of it. */
  readonly statements: number;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws. `exclusive` makes it
   * the only exclusive transaction at a time across every process on the database (migrations, whichever nodes
   * start together).
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options?: { exclusive?: boolean }): Promise<T>;
  close(): Promise<void>;
}
