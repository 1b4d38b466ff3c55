import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Row, SqlDatabase, SqlExecutor, SqlValue } from '../sql/database.ts';

/**
 * The embedded database: one SQLite file in berth's home. WAL with `synchronous=FULL` makes every committed change
 * survive a crash of berth or of the machine. SQLite runs each statement synchronously; a transaction whose work
 * awaits is one at a time, and statements from outside it wait until it ends rather than join it.
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  /** Settles when the last transaction begun so far has ended. */
  #tail: Promise<void> = Promise.resolve();
  #inTransaction = false;
  #sent = 0;
  readonly #direct: SqlExecutor = {
    all: async (sql, values = []) => this.#prepare(sql).all(...values) as Row[],
    get: async (sql, values = []) => this.#prepare(sql).get(...values) as Row | undefined,
    run: async (sql, values = []) => Number(this.#prepare(sql).run(...values).changes),
    exec: async (sql) => {
      this.#sent++;
      this.#db.exec(sql);
    },
  };

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
  }

  get statements(): number {
    return this.#sent;
  }

  #prepare(sql: string): StatementSync {
    this.#sent++;
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  async #outside(): Promise<void> {
    while (this.#inTransaction) await this.#tail;
  }

  async all(sql: string, values?: readonly SqlValue[]): Promise<Row[]> {
    await this.#outside();
    return this.#direct.all(sql, values);
  }

  async get(sql: string, values?: readonly SqlValue[]): Promise<Row | undefined> {
    await this.#outside();
    return this.#direct.get(sql, values);
  }

  async run(sql: string, values?: readonly SqlValue[]): Promise<number> {
    await this.#outside();
    return this.#direct.run(sql, values);
  }

  async exec(sql: string): Promise<void> {
    await this.#outside();
    return this.#direct.exec(sql);
  }

  // Every SQLite transaction here is exclusive: BEGIN IMMEDIATE takes the file's write lock.
  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release = (): void => {};
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.#inTransaction = true;
    try {
      this.#sent += 2;
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.#direct);
        this.#db.exec('COMMIT');
        return result;
      } catch (error) {
        this.#db.exec('ROLLBACK');
        throw error;
      }
    } finally {
      this.#inTransaction = false;
      release();
    }
  }

  async close(): Promise<void> {
    await this.#outside();
    this.#statements.clear();
    this.#db.close();
  }
}
