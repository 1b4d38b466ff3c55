/**
 * A real PostgreSQL for tests, from the machine's own packages (Debian's `postgresql`, which CI installs): `initdb`
 * into a temporary directory and `postgres` on an ephemeral port of 127.0.0.1, both run as an unprivileged user
 * (PostgreSQL refuses root). Each test asks for a database of its own, so tests share one server without sharing
 * state. Nothing here is a stand-in: berth talks to the same server a cluster would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';

const PACKAGE_ROOT = '/usr/lib/postgresql';
/** The user PostgreSQL runs as when the tests run as root: the one Debian's package makes. */
const SERVER_USER = 'postgres';

export interface Postgres {
  /** `postgresql://berth@127.0.0.1:PORT/postgres`, the server's maintenance database. */
  readonly url: string;
  readonly port: number;
  /** A fresh, empty database of its own, by URL. */
  database(prefix?: string): Promise<string>;
  /** Stops the server as `pg_ctl stop -m immediate` does: no checkpoint, clients cut at once (a store that goes away). */
  crash(): Promise<void>;
  /** Starts it again on the same port and data after `crash`. */
  restart(): Promise<void>;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/** Why PostgreSQL cannot run here, or undefined when it can. */
export function postgresUnsupportedReason(): string | undefined {
  if (binDir() === undefined) return `PostgreSQL's server is not installed (no ${PACKAGE_ROOT}/*/bin/postgres): apt-get install -y postgresql`;
  if (process.getuid?.() === 0 && userIds(SERVER_USER) === undefined) return `running as root, and there is no "${SERVER_USER}" user to run PostgreSQL as`;
  return undefined;
}

function binDir(): string | undefined {
  if (!existsSync(PACKAGE_ROOT)) return undefined;
  const versions = readdirSync(PACKAGE_ROOT)
    .filter((name) => existsSync(join(PACKAGE_ROOT, name, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(PACKAGE_ROOT, versions[0], 'bin');
}

function userIds(name: string): { uid: number; gid: number } | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

function run(command: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { PATH: '/usr/bin:/bin', LANG: 'C' }, stdio: ['ignore', 'ignore', 'pipe'], ...ids });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}: ${err}`))));
  });
}

/** Starts a PostgreSQL of its own for a test file; `stop()` it in `after`. */
export async function startPostgres(): Promise<Postgres> {
  const why = postgresUnsupportedReason();
  if (why) throw new Error(why);
  const bin = binDir() as string;
  const ids = process.getuid?.() === 0 ? userIds(SERVER_USER) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-pg-'));
  const data = join(dir, 'data');
  const sockets = join(dir, 'sockets');
  mkdirSync(sockets);
  chmodSync(dir, 0o755);
  if (ids) {
    chownSync(dir, ids.uid, ids.gid);
    chownSync(sockets, ids.uid, ids.gid);
  }
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'berth', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], ids);
  const port = await freePort();
  const url = `postgresql://berth@127.0.0.1:${port}/postgres`;
  let server: ChildProcess | undefined;
  let log = '';

  const start = async (): Promise<void> => {
    const child = spawn(
      join(bin, 'postgres'),
      // Durability is not what these tests are about, and fsync is most of a small server's time.
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        sockets,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=300',
      ],
      { env: { PATH: '/usr/bin:/bin', LANG: 'C' }, stdio: ['ignore', 'ignore', 'pipe'], ...ids },
    );
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (log = (log + chunk).slice(-8000)));
    server = child;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`PostgreSQL exited at start (${child.exitCode}):\n${log}`);
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.end();
        return;
      } catch (error) {
        await client.end().catch(() => {});
        if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within 30 s: ${(error as Error).message}\n${log}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  };

  await start();
  let databases = 0;
  return {
    url,
    port,
    async database(prefix = 'berth_test') {
      const name = `${prefix}_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgresql://berth@127.0.0.1:${port}/${name}`;
    },
    // SIGQUIT is PostgreSQL's immediate shutdown.
    crash: () => halt('SIGQUIT'),
    restart: start,
    async stop() {
      // SIGINT is its fast shutdown: clients are cut, and the data is left consistent.
      await halt('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
