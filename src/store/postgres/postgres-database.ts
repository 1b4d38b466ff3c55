import pg from 'pg';
import { BerthError, isBerthError } from '../../core/errors.ts';
import type { Row, SqlDatabase, SqlExecutor, SqlValue } from '../sql/database.ts';

export interface PostgresOptions {
  /** Connections this node keeps to PostgreSQL at most. */
  maxConnections?: number;
  /** How long a statement may wait for a connection before the store counts as unavailable. */
  connectTimeoutMs?: number;
  /** How long one statement may run. */
  statementTimeoutMs?: number;
  /** Told of a connection PostgreSQL dropped while it sat idle (a restart); the pool opens another when needed. */
  onIdleError?: (error: Error) => void;
}

/** The key of the advisory lock exclusive transactions take: "berth" in ASCII, one number for all of berth. */
const EXCLUSIVE_LOCK = 0x6265727468;

/**
 * PostgreSQL, the store of a cluster, through a pool of connections (`pg`). Statements are berth's `?` form,
 * numbered once (`$1`, `$2`, ...). A store that cannot be reached, or that drops a statement part way, is
 * `store_unavailable` (503), never an internal error: the caller retries, and live sessions go on meanwhile.
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgresql';
  readonly #pool: pg.Pool;
  readonly #where: string;
  readonly #executor: SqlExecutor;
  readonly #sent = { statements: 0 };

  private constructor(pool: pg.Pool, where: string) {
    this.#pool = pool;
    this.#where = where;
    this.#executor = executorOf(pool, where, this.#sent);
  }

  get statements(): number {
    return this.#sent.statements;
  }

  /** Connects to the database at `url`; rejects, saying why, when it cannot. */
  static async connect(url: string, options: PostgresOptions = {}): Promise<PostgresDatabase> {
    const where = describe(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      idleTimeoutMillis: 30_000,
      application_name: 'berth',
    });
    // An idle connection's error (PostgreSQL restarting) would otherwise end the process.
    pool.on('error', (error) => options.onIdleError?.(error));
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      await pool.end().catch(() => {});
      throw new Error(`berth cannot use the store at ${where}: ${(error as Error).message}`, { cause: error });
    }
    return new PostgresDatabase(pool, where);
  }

  all(sql: string, values?: readonly SqlValue[]): Promise<Row[]> {
    return this.#executor.all(sql, values);
  }

  get(sql: string, values?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.#executor.get(sql, values);
  }

  run(sql: string, values?: readonly SqlValue[]): Promise<number> {
    return this.#executor.run(sql, values);
  }

  exec(sql: string): Promise<void> {
    return this.#executor.exec(sql);
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options: { exclusive?: boolean } = {}): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw unavailable(this.#where, error);
    }
    // A connection that failed part way is closed rather than handed to the next caller.
    let destroy: Error | undefined;
    try {
      this.#sent.statements += 2;
      await guarded(this.#where, () => client.query(options.exclusive ? `BEGIN; SELECT pg_advisory_xact_lock(${EXCLUSIVE_LOCK})` : 'BEGIN'));
      const result = await work(executorOf(client, this.#where, this.#sent));
      await guarded(this.#where, () => client.query('COMMIT'));
      return result;
    } catch (error) {
      if (isBerthError(error) && error.code === 'store_unavailable') destroy = error;
      else await client.query('ROLLBACK').catch((rollbackError: unknown) => (destroy = rollbackError as Error));
      throw error;
    } finally {
      client.release(destroy);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

/** Runs berth's statements on a pool or on one connection. */
function executorOf(on: pg.Pool | pg.PoolClient, where: string, sent: { statements: number }): SqlExecutor {
  const query = (sql: string, values: readonly SqlValue[] = []): Promise<pg.QueryResult> => {
    sent.statements++;
    return guarded(where, () => on.query(numbered(sql), values as SqlValue[]));
  };
  return {
    all: async (sql, values) => (await query(sql, values)).rows as Row[],
    get: async (sql, values) => (await query(sql, values)).rows[0] as Row | undefined,
    run: async (sql, values) => (await query(sql, values)).rowCount ?? 0,
    exec: async (sql) => {
      sent.statements++;
      await guarded(where, () => on.query(sql));
    },
  };
}

/** Codes of PostgreSQL errors that mean the server, not the statement, failed: it is down, starting or shutting. */
const UNAVAILABLE_CODES = /^(08|57P0[1-3]|53)/;
/** PostgreSQL's own error codes, by their classes (00–58, F0, HV, P0, XX); a socket's (`EPIPE`) are not among them. */
const SQLSTATE = /^([0-5][0-9A-Z]|F0|HV|P0|XX)[0-9A-Z]{3}$/;

async function guarded<T>(where: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // Text PostgreSQL cannot hold (a NUL character) is the sender's to fix, wherever it came from.
    if (code === '22021' || code === '22P05') {
      throw new BerthError('validation_failed', 'the request holds text the store cannot keep or look up (a NUL character); send it without one', {
        cause: error,
      });
    }
    // A statement's own fault (a constraint, a syntax error) has a SQLSTATE of another class and stays what it is, as
    // does berth's own mistake; the rest (a refused or cut connection, a connect timeout) is the store being away.
    if (typeof code === 'string' && SQLSTATE.test(code) && !UNAVAILABLE_CODES.test(code)) throw error;
    if (error instanceof TypeError || error instanceof RangeError) throw error;
    throw unavailable(where, error);
  }
}

function unavailable(where: string, cause: unknown): BerthError {
  return new BerthError(
    'store_unavailable',
    `the cluster's store (${where}) does not answer: ${(cause as Error).message}; live sessions go on, retry this in a moment`,
    { cause },
  );
}

const NUMBERED = new Map<string, string>();

/** `?` placeholders as PostgreSQL's `$1`, `$2`, ...; berth's statements hold no `?` of their own. */
function numbered(sql: string): string {
  let out = NUMBERED.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    NUMBERED.set(sql, out);
  }
  return out;
}

/** The store's address for messages, without its password. */
export function describe(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return `${parsed.protocol}//${parsed.username ? `${parsed.username}@` : ''}${parsed.host}${parsed.pathname}`;
  } catch {
    return 'a PostgreSQL URL that does not parse';
  }
}
