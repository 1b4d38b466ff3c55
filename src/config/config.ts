import { readFileSync } from 'node:fs';
import { availableParallelism, homedir, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BerthError } from '../core/errors.ts';
import { decimal, integer, invalid, list, oneOf, text, type Env } from './values.ts';
import { tracingConfig } from './tracing-config.ts';
import type { TraceExport } from '../core/trace-export.ts';

export type { Env } from './values.ts';

/**
 * berth's one configuration. It is built once at start from `berth serve` flags, then `BERTH_*` environment
 * variables, then defaults, and validated as a whole; every other module receives the values it needs from its
 * caller and never reads the environment.
 */
export interface Config {
  /** Address the edge listens on. Flag `--host`, env `BERTH_HOST`. Default `127.0.0.1`. */
  host: string;
  /** Port the edge listens on; 0 picks a free one. Flag `--port`, env `BERTH_PORT`. Default 8787. */
  port: number;
  /**
   * berth's home: the store, artifacts, session workspaces. Flag `--home`, env `BERTH_HOME`. Default
   * `/var/lib/berth` for root (sandbox uids must be able to traverse to it), else `~/.berth`.
   */
  home: string;
  /**
   * The cluster's PostgreSQL (`postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`), which nodes sharing it share their
   * records through. Flag `--store`, env `BERTH_STORE_URL`. Unset, berth keeps its records in `<home>/berth.db`.
   */
  storeUrl?: string;
  /**
   * With a store URL: where the other nodes reach this one (`--advertise-url`, `BERTH_ADVERTISE_URL`), such as
   * `http://10.0.3.7:8787`; berth checks at start that it reaches this very node.
   */
  advertiseUrl?: string;
  /**
   * With a store URL: the 32 bytes every node of the cluster shares (`BERTH_CLUSTER_KEY`, base64). requestState's
   * seal and the nodes' own hop derive from it, unless `BERTH_REQUEST_STATE_KEY` sets the first apart.
   */
  clusterKey?: Buffer;
  /**
   * What makes sandboxes unless a runtime asks for another isolating driver. Flag `--driver`, env `BERTH_DRIVER`.
   * Default `bwrap`.
   */
  driver: DriverName;
  /** The runsc binary of the gvisor driver (`BERTH_RUNSC`); unset, it is found where scripts/install-runsc.sh puts it. */
  runscPath?: string;
  /** `BERTH_LOG_LEVEL`: debug, info, warn or error. Default info. */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** `BERTH_LOG_FORMAT`: text or json. Default text. */
  logFormat: 'text' | 'json';
  /** Largest MCP request body accepted, in bytes (`BERTH_MAX_BODY_BYTES`, default 4 MiB); larger gets 413. */
  maxBodyBytes: number;
  /**
   * What a WebSocket client may send through berth (an agent's `/ws`, a shell): its largest message, all frames
   * together (`BERTH_WS_MAX_MESSAGE_BYTES`, default 16 MiB; larger closes the connection with 1009), and its frames a
   * second (`BERTH_WS_FRAMES_PER_SECOND`, default 1000; a client sending faster is read more slowly). Both are
   * above AgentCore's (32 KB frames, 250 frames a second).
   */
  webSocket: { maxMessageBytes: number; framesPerSecond: number };
  /** Largest artifact upload, in bytes (`BERTH_MAX_ARTIFACT_BYTES`, default 1 GiB); it may unpack to 4 times that. */
  maxArtifactBytes: number;
  /**
   * Host names requests may be addressed to (`BERTH_ALLOWED_HOSTS`, comma-separated, `*` for any). The `Host`
   * header, and `Origin` when present, must name one: a web page cannot reach berth through DNS rebinding. Default:
   * the loopback names when berth listens on loopback, any host otherwise.
   */
  allowedHosts: readonly string[] | '*';
  /** Live sessions this node holds at most (`BERTH_MAX_SESSIONS`, default 2000); past it, new sessions get 429. */
  maxSessions: number;
  /** How long a new sandbox's server has to become ready (`BERTH_START_TIMEOUT_MS`, default 30 000). */
  startTimeoutMs: number;
  /**
   * How long a node that got SIGTERM lets the work under way finish before it ends its sessions
   * (`BERTH_SHUTDOWN_GRACE_SECONDS`, default 25): it drains, taking no new sessions. The default fits inside the 30 s
   * an orchestrator such as Kubernetes waits before SIGKILL, with room to end the sandboxes.
   */
  shutdownGraceSeconds: number;
  /**
   * How long a call that asked its client something (MRTR `input_required`) waits for the answer before berth
   * cancels it; also how long the sealed requestState is good for (`BERTH_INPUT_TIMEOUT_MS`, default 300 000).
   */
  inputTimeoutMs: number;
  /**
   * How soon a bearer token signed with a key berth has not seen may make its issuer's key set be fetched again
   * (`BERTH_JWKS_COOLDOWN_MS`, default 30 000): soon enough for a key rotation, not so often that tokens can flood the issuer.
   */
  jwksCooldownMs: number;
  /**
   * The 32-byte key that seals requestState (`BERTH_REQUEST_STATE_KEY`, base64). Nodes of a cluster share one;
   * unset, berth keeps its own in `<home>/keys/`.
   */
  requestStateKey?: Buffer;
  /**
   * The 32-byte key that encrypts secrets at rest: runtimes' secret environment variables and the key files in
   * `<home>/keys/` (`BERTH_SECRET_KEY`, base64). Unset, berth makes one in `<home>/keys/secret.key` (0600); set it
   * (from a secret manager) to keep the store and the home useless to whoever copies them.
   */
  secretKey?: Buffer;
  /**
   * Defaults a runtime's lifecycle falls back on, and `unclaimedTimeoutSeconds` (`BERTH_UNCLAIMED_TIMEOUT`, default
   * 60): how long a session berth made for a request that named no session waits for a second request before it ends.
   */
  lifecycle: { idleTimeoutSeconds: number; maxLifetimeSeconds: number; unclaimedTimeoutSeconds: number };
  /** How much of each session's output berth keeps for its logs (`BERTH_SESSION_LOG_KB`, default 256). */
  sessionLogBytes: number;
  /** AgentCore's API, which the AWS SDK drives. */
  aws: AwsConfig;
  /** Limits every sandbox gets unless its runtime says otherwise. */
  sandbox: SandboxDefaults;
  /** How long a client may take to send a request, and how many connections the node holds. */
  connections: ConnectionLimits;
  /** When the node takes a new session: how many sandboxes start at once, how many wait, and the memory it keeps free. */
  admission: AdmissionLimits;
  /** What berth keeps for the clients of one session, at most. */
  perSession: PerSessionLimits;
  /**
   * Hosts and ranges berth's own outbound fetches on a user's behalf (OIDC discovery, JWKS) may reach though they
   * are loopback, link-local or private (`BERTH_OUTBOUND_ALLOW`, comma-separated names, `*.domain`s and CIDRs).
   * Default none: an issuer must be a public address.
   */
  outboundAllow: readonly string[];
  /** How berth installs published servers (`berth deploy npm:…`, `POST /v1/artifacts` with `{"npm": …}`). */
  npm: NpmSettings;
  /** Where berth exports its traces (OTLP/HTTP); unset, tracing is off. See tracing-config.ts. */
  tracing?: TraceExport;
}

export interface NpmSettings {
  /** The npm berth runs (`BERTH_NPM`): a path, or a name found on berth's PATH. Default `npm`. */
  command: string;
  /** How long one install may take (`BERTH_NPM_TIMEOUT_MS`, default 180 000); past it npm is killed and nothing is kept. */
  timeoutMs: number;
  /**
   * All of berth's own environment npm is given: PATH, and the proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`)
   * and extra CA certificates (`NODE_EXTRA_CA_CERTS`) through which the registry is reached.
   */
  env: Readonly<Record<string, string>>;
}

export interface ConnectionLimits {
  /** A request's headers must arrive within this (`BERTH_HEADERS_TIMEOUT_MS`, default 10 000); else the connection closes. */
  headersTimeoutMs: number;
  /**
   * A request body that sends nothing for this long is answered 408 and its connection closed
   * (`BERTH_BODY_TIMEOUT_MS`, default 60 000).
   */
  bodyTimeoutMs: number;
  /** The whole request, headers and body, must arrive within this (`BERTH_REQUEST_TIMEOUT_MS`, default 600 000). */
  requestTimeoutMs: number;
  /**
   * Client connections the node holds at once (`BERTH_MAX_CONNECTIONS`); one past it is answered 503 with
   * `Retry-After` and closed. Default: a third of the process's open-file limit, at most 10 000, so that sandboxes
   * keep descriptors of their own.
   */
  maxConnections: number;
}

export interface AdmissionLimits {
  /** Sandboxes that may be starting at once (`BERTH_MAX_STARTING`, default twice the cores, at least 4). */
  maxStarting: number;
  /** New sessions that may wait for a start slot (`BERTH_START_QUEUE`, default 64); past it, 503 at once. */
  startQueue: number;
  /** How long a new session waits for a start slot before 503 (`BERTH_START_QUEUE_WAIT_MS`, default 5 000). */
  startQueueWaitMs: number;
  /**
   * Memory the machine (or berth's own cgroup) keeps available: below it, new sessions are refused with 503
   * (`BERTH_MIN_FREE_MEMORY_MB`; default a tenth of the machine's memory, at most 2 048 MB, at least 256 MB).
   */
  minFreeMemoryBytes: number;
}

export interface PerSessionLimits {
  /** Resources a session's clients may subscribe to (`BERTH_SESSION_MAX_SUBSCRIPTIONS`, default 256). */
  subscriptions: number;
  /** Open `subscriptions/listen` streams of one session (`BERTH_SESSION_MAX_LISTENERS`, default 16). */
  listeners: number;
  /** Calls of one session waiting on their client's answers at once (`BERTH_SESSION_MAX_PENDING_INPUT`, default 64). */
  pendingInputs: number;
  /** Legacy clients (`Mcp-Session-Id`s) in one session (`BERTH_SESSION_MAX_LEGACY_CLIENTS`, default 8); past it, the oldest is forgotten. */
  legacyClients: number;
}

/** What the machine berth runs on offers; read from the system unless a test gives it. */
export interface Machine {
  /** The process's soft limit on open files. */
  openFiles: number;
  memoryBytes: number;
  cpus: number;
}

/** Reads the open-file limit, memory and cores of this machine. */
export function thisMachine(): Machine {
  let openFiles = 1024;
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (line) openFiles = Number(line[1]);
  } catch {
    // not Linux: the common default
  }
  return { openFiles, memoryBytes: totalmem(), cpus: availableParallelism() };
}

export interface AwsConfig {
  /**
   * How callers of AgentCore's API are checked: `sigv4` (the default) verifies AWS Signature V4 against the access
   * keys below; `off` lets anyone in, for local development only. Flag `--aws-auth`, env `BERTH_AWS_AUTH`.
   */
  auth: 'sigv4' | 'off';
  /**
   * Access key id → secret access key: `BERTH_AWS_ACCESS_KEY_ID` with `BERTH_AWS_SECRET_ACCESS_KEY`, and every
   * `ACCESS_KEY_ID SECRET_ACCESS_KEY` line of `<home>/keys/aws-credentials` (read by the server at start).
   */
  credentials: Map<string, string>;
  /** The region and account berth's ARNs name (`BERTH_AWS_REGION`, default us-east-1; `BERTH_AWS_ACCOUNT_ID`, default 000000000000). */
  region: string;
  accountId: string;
}

export type DriverName = 'bwrap' | 'process' | 'gvisor';
export const DRIVER_NAMES: readonly DriverName[] = ['bwrap', 'process', 'gvisor'];

export interface SandboxDefaults {
  /** `BERTH_SANDBOX_MEMORY_MB`, default 512. */
  memoryBytes: number;
  /** `BERTH_SANDBOX_PIDS`, default 256. */
  pids: number;
  /** CPU share in cores, `BERTH_SANDBOX_CPUS`, default 1. */
  cpus: number;
  /** Size of the private `/tmp`, `BERTH_SANDBOX_TMP_MB`, default 64. */
  tmpBytes: number;
  /** Size of the private workspace (`HOME`), `BERTH_SANDBOX_WORKSPACE_MB`, default 256. */
  workspaceBytes: number;
  /** Open files per process, `BERTH_SANDBOX_OPEN_FILES`, default 1024. */
  openFiles: number;
  /** First host uid handed to sandboxes (`BERTH_SANDBOX_UID_BASE`, default 200000); each live sandbox gets its own. */
  uidBase: number;
  /** How many uids from `uidBase` berth may use (`BERTH_SANDBOX_UID_COUNT`, default 65536). */
  uidCount: number;
}

const MIB = 1024 * 1024;

/** Parses `berth serve` flags and the environment into a validated Config; throws a BerthError naming the bad input. */
export function loadServeConfig(argv: readonly string[], env: Env, machine: Machine = thisMachine()): Config {
  const flags = parseFlags(argv);
  // A flag is named after its variable (`BERTH_PORT`, `--port`) unless it is given its own name.
  const source = (
    flag: string | undefined,
    envName: string,
    flagName = `--${envName.slice('BERTH_'.length).toLowerCase()}`,
  ): { value: string | undefined; name: string } => (flag !== undefined ? { value: flag, name: flagName } : { value: env[envName], name: envName });

  const host = text(source(flags.host, 'BERTH_HOST'), '127.0.0.1');
  const config: Config = {
    host,
    allowedHosts: allowedHosts(env.BERTH_ALLOWED_HOSTS, host),
    port: integer(source(flags.port, 'BERTH_PORT'), 8787, 0, 65535),
    home: resolve(text(source(flags.home, 'BERTH_HOME'), defaultHome())),
    driver: oneOf(source(flags.driver, 'BERTH_DRIVER'), 'bwrap', DRIVER_NAMES),
    logLevel: oneOf({ value: env.BERTH_LOG_LEVEL, name: 'BERTH_LOG_LEVEL' }, 'info', ['debug', 'info', 'warn', 'error'] as const),
    logFormat: oneOf({ value: env.BERTH_LOG_FORMAT, name: 'BERTH_LOG_FORMAT' }, 'text', ['text', 'json'] as const),
    maxBodyBytes: integer({ value: env.BERTH_MAX_BODY_BYTES, name: 'BERTH_MAX_BODY_BYTES' }, 4 * MIB, 1024, 1024 * MIB),
    webSocket: {
      maxMessageBytes: integer({ value: env.BERTH_WS_MAX_MESSAGE_BYTES, name: 'BERTH_WS_MAX_MESSAGE_BYTES' }, 16 * MIB, 1024, 1024 * MIB),
      framesPerSecond: integer({ value: env.BERTH_WS_FRAMES_PER_SECOND, name: 'BERTH_WS_FRAMES_PER_SECOND' }, 1000, 1, 1_000_000),
    },
    maxArtifactBytes: integer({ value: env.BERTH_MAX_ARTIFACT_BYTES, name: 'BERTH_MAX_ARTIFACT_BYTES' }, 1024 * MIB, MIB, 64 * 1024 * MIB),
    maxSessions: integer({ value: env.BERTH_MAX_SESSIONS, name: 'BERTH_MAX_SESSIONS' }, 2000, 1, 1_000_000),
    startTimeoutMs: integer({ value: env.BERTH_START_TIMEOUT_MS, name: 'BERTH_START_TIMEOUT_MS' }, 30_000, 100, 600_000),
    shutdownGraceSeconds: integer({ value: env.BERTH_SHUTDOWN_GRACE_SECONDS, name: 'BERTH_SHUTDOWN_GRACE_SECONDS' }, 25, 0, 86_400),
    inputTimeoutMs: integer({ value: env.BERTH_INPUT_TIMEOUT_MS, name: 'BERTH_INPUT_TIMEOUT_MS' }, 300_000, 100, 86_400_000),
    jwksCooldownMs: integer({ value: env.BERTH_JWKS_COOLDOWN_MS, name: 'BERTH_JWKS_COOLDOWN_MS' }, 30_000, 0, 3_600_000),
    lifecycle: {
      idleTimeoutSeconds: integer({ value: env.BERTH_IDLE_TIMEOUT, name: 'BERTH_IDLE_TIMEOUT' }, 900, 1, 28_800),
      maxLifetimeSeconds: integer({ value: env.BERTH_MAX_LIFETIME, name: 'BERTH_MAX_LIFETIME' }, 28_800, 1, 1_209_600),
      unclaimedTimeoutSeconds: integer({ value: env.BERTH_UNCLAIMED_TIMEOUT, name: 'BERTH_UNCLAIMED_TIMEOUT' }, 60, 1, 28_800),
    },
    sessionLogBytes: integer({ value: env.BERTH_SESSION_LOG_KB, name: 'BERTH_SESSION_LOG_KB' }, 256, 0, 1024 * 1024) * 1024,
    aws: awsConfig(flags.awsAuth, env),
    sandbox: {
      memoryBytes: integer({ value: env.BERTH_SANDBOX_MEMORY_MB, name: 'BERTH_SANDBOX_MEMORY_MB' }, 512, 16, 1024 * 1024) * MIB,
      pids: integer({ value: env.BERTH_SANDBOX_PIDS, name: 'BERTH_SANDBOX_PIDS' }, 256, 8, 1_000_000),
      cpus: decimal({ value: env.BERTH_SANDBOX_CPUS, name: 'BERTH_SANDBOX_CPUS' }, 1, 0.01, 1024),
      tmpBytes: integer({ value: env.BERTH_SANDBOX_TMP_MB, name: 'BERTH_SANDBOX_TMP_MB' }, 64, 1, 1024 * 1024) * MIB,
      workspaceBytes: integer({ value: env.BERTH_SANDBOX_WORKSPACE_MB, name: 'BERTH_SANDBOX_WORKSPACE_MB' }, 256, 1, 1024 * 1024) * MIB,
      openFiles: integer({ value: env.BERTH_SANDBOX_OPEN_FILES, name: 'BERTH_SANDBOX_OPEN_FILES' }, 1024, 64, 1_048_576),
      uidBase: integer({ value: env.BERTH_SANDBOX_UID_BASE, name: 'BERTH_SANDBOX_UID_BASE' }, 200_000, 1000, 4_000_000_000),
      uidCount: integer({ value: env.BERTH_SANDBOX_UID_COUNT, name: 'BERTH_SANDBOX_UID_COUNT' }, 65_536, 1, 1_000_000),
    },
    connections: {
      headersTimeoutMs: integer({ value: env.BERTH_HEADERS_TIMEOUT_MS, name: 'BERTH_HEADERS_TIMEOUT_MS' }, 10_000, 100, 600_000),
      bodyTimeoutMs: integer({ value: env.BERTH_BODY_TIMEOUT_MS, name: 'BERTH_BODY_TIMEOUT_MS' }, 60_000, 100, 3_600_000),
      requestTimeoutMs: integer({ value: env.BERTH_REQUEST_TIMEOUT_MS, name: 'BERTH_REQUEST_TIMEOUT_MS' }, 600_000, 1000, 86_400_000),
      maxConnections: integer(
        { value: env.BERTH_MAX_CONNECTIONS, name: 'BERTH_MAX_CONNECTIONS' },
        Math.max(64, Math.min(10_000, Math.floor(machine.openFiles / 3))),
        1,
        1_000_000,
      ),
    },
    admission: {
      maxStarting: integer({ value: env.BERTH_MAX_STARTING, name: 'BERTH_MAX_STARTING' }, Math.max(4, 2 * machine.cpus), 1, 10_000),
      startQueue: integer({ value: env.BERTH_START_QUEUE, name: 'BERTH_START_QUEUE' }, 64, 0, 100_000),
      startQueueWaitMs: integer({ value: env.BERTH_START_QUEUE_WAIT_MS, name: 'BERTH_START_QUEUE_WAIT_MS' }, 5000, 0, 600_000),
      minFreeMemoryBytes:
        integer(
          { value: env.BERTH_MIN_FREE_MEMORY_MB, name: 'BERTH_MIN_FREE_MEMORY_MB' },
          Math.max(256, Math.min(2048, Math.floor(machine.memoryBytes / MIB / 10))),
          0,
          1024 * 1024,
        ) * MIB,
    },
    perSession: {
      subscriptions: integer({ value: env.BERTH_SESSION_MAX_SUBSCRIPTIONS, name: 'BERTH_SESSION_MAX_SUBSCRIPTIONS' }, 256, 1, 100_000),
      listeners: integer({ value: env.BERTH_SESSION_MAX_LISTENERS, name: 'BERTH_SESSION_MAX_LISTENERS' }, 16, 1, 10_000),
      pendingInputs: integer({ value: env.BERTH_SESSION_MAX_PENDING_INPUT, name: 'BERTH_SESSION_MAX_PENDING_INPUT' }, 64, 1, 100_000),
      legacyClients: integer({ value: env.BERTH_SESSION_MAX_LEGACY_CLIENTS, name: 'BERTH_SESSION_MAX_LEGACY_CLIENTS' }, 8, 1, 10_000),
    },
    outboundAllow: list(env.BERTH_OUTBOUND_ALLOW),
    npm: npmSettings(env),
  };
  if (config.aws.auth === 'off' && !isLoopbackHost(host)) {
    throw invalid(
      { value: 'off', name: authFlagName(argv) },
      `sigv4 when berth listens beyond loopback (${host}): with it off, anyone who reaches the port could deploy and run code`,
    );
  }
  if (env.BERTH_RUNSC !== undefined) config.runscPath = resolve(text({ value: env.BERTH_RUNSC, name: 'BERTH_RUNSC' }, ''));
  const storeUrl = storeUrlOf(source(flags.store, 'BERTH_STORE_URL', '--store'));
  const requestStateKey = keyOf(env, 'BERTH_REQUEST_STATE_KEY');
  if (requestStateKey) config.requestStateKey = requestStateKey;
  const secretKey = keyOf(env, 'BERTH_SECRET_KEY');
  if (secretKey) config.secretKey = secretKey;
  const tracing = tracingConfig(env);
  if (tracing) config.tracing = tracing;
  Object.assign(config, clusterOf(storeUrl, source(flags.advertiseUrl, 'BERTH_ADVERTISE_URL', '--advertise-url'), env, config.secretKey));
  return config;
}

/** The variables of berth's environment that npm is given: how to find it, and how the registry is reached. */
const NPM_ENV = ['PATH', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'NODE_EXTRA_CA_CERTS'];

function npmSettings(env: Env): NpmSettings {
  const passed: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  for (const name of NPM_ENV) {
    const value = env[name];
    if (value !== undefined) passed[name] = value;
  }
  return {
    command: text({ value: env.BERTH_NPM, name: 'BERTH_NPM' }, 'npm'),
    timeoutMs: integer({ value: env.BERTH_NPM_TIMEOUT_MS, name: 'BERTH_NPM_TIMEOUT_MS' }, 180_000, 1000, 3_600_000),
    env: passed,
  };
}

function authFlagName(argv: readonly string[]): string {
  return argv.some((arg) => arg === '--aws-auth' || arg.startsWith('--aws-auth=')) ? '--aws-auth' : 'BERTH_AWS_AUTH';
}

/** A 32-byte key given in base64; its value never appears in an error. */
function keyOf(env: Env, name: string): Buffer | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== 32) throw invalid({ value: '(hidden)', name }, '32 bytes in base64 (openssl rand -base64 32)');
  return bytes;
}

function awsConfig(authFlag: string | undefined, env: Env): AwsConfig {
  const auth = oneOf(authFlag !== undefined ? { value: authFlag, name: '--aws-auth' } : { value: env.BERTH_AWS_AUTH, name: 'BERTH_AWS_AUTH' }, 'sigv4', [
    'sigv4',
    'off',
  ] as const);
  const credentials = new Map<string, string>();
  const keyId = env.BERTH_AWS_ACCESS_KEY_ID;
  const secret = env.BERTH_AWS_SECRET_ACCESS_KEY;
  if ((keyId === undefined) !== (secret === undefined)) {
    throw invalid(
      { value: keyId === undefined ? undefined : '(set)', name: 'BERTH_AWS_ACCESS_KEY_ID' },
      'set together with BERTH_AWS_SECRET_ACCESS_KEY, or neither',
    );
  }
  if (keyId !== undefined && secret !== undefined) {
    if (!/^[A-Za-z0-9]{3,128}$/.test(keyId)) throw invalid({ value: keyId, name: 'BERTH_AWS_ACCESS_KEY_ID' }, 'letters and digits, like AKIAIOSFODNN7EXAMPLE');
    if (secret.length < 8) throw invalid({ value: '(hidden)', name: 'BERTH_AWS_SECRET_ACCESS_KEY' }, 'at least 8 characters');
    credentials.set(keyId, secret);
  }
  const region = text({ value: env.BERTH_AWS_REGION, name: 'BERTH_AWS_REGION' }, 'us-east-1');
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw invalid({ value: region, name: 'BERTH_AWS_REGION' }, 'a region name such as us-east-1');
  const accountId = text({ value: env.BERTH_AWS_ACCOUNT_ID, name: 'BERTH_AWS_ACCOUNT_ID' }, '000000000000');
  if (!/^\d{12}$/.test(accountId)) throw invalid({ value: accountId, name: 'BERTH_AWS_ACCOUNT_ID' }, '12 digits');
  return { auth, credentials, region, accountId };
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** True when `host` (the address berth listens on) reaches this machine only. */
export function isLoopbackHost(host: string): boolean {
  return ['localhost', '::1', '[::1]'].includes(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function allowedHosts(value: string | undefined, listenHost: string): readonly string[] | '*' {
  if (value === undefined) return ['localhost', '127.0.0.1', '::1', '[::1]'].includes(listenHost) ? LOOPBACK_NAMES : '*';
  if (value.trim() === '*') return '*';
  const names = value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (names.length === 0) throw invalid({ value, name: 'BERTH_ALLOWED_HOSTS' }, 'a comma-separated list of host names, or *');
  return names;
}

/**
 * What a node of a cluster needs beside its store: an advertise URL, the cluster key, and the secret key every node
 * shares (a node's own would seal secrets the others cannot open). Without a store none of them means anything.
 */
function clusterOf(
  storeUrl: string | undefined,
  advertise: { value: string | undefined; name: string },
  env: Env,
  secretKey: Buffer | undefined,
): Pick<Config, 'storeUrl' | 'advertiseUrl' | 'clusterKey'> {
  const clusterKey = keyOf(env, 'BERTH_CLUSTER_KEY');
  if (storeUrl === undefined) {
    const stray = advertise.value !== undefined ? advertise.name : clusterKey !== undefined ? 'BERTH_CLUSTER_KEY' : undefined;
    if (stray !== undefined)
      throw new BerthError('validation_failed', `${stray} is for the nodes of a cluster: give the cluster's store too (--store postgresql://…)`);
    return {};
  }
  const missing = [
    advertise.value === undefined ? '--advertise-url (or BERTH_ADVERTISE_URL), where the other nodes reach this one' : undefined,
    clusterKey === undefined ? 'BERTH_CLUSTER_KEY, the 32 bytes every node shares (openssl rand -base64 32)' : undefined,
    secretKey === undefined ? 'BERTH_SECRET_KEY, the same on every node, or secrets one node seals the others cannot open' : undefined,
  ].filter((line) => line !== undefined);
  if (missing.length > 0) throw new BerthError('validation_failed', `a node of a cluster (--store) needs ${missing.join('; and ')}`);
  let url: URL | undefined;
  try {
    url = new URL(advertise.value as string);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw invalid(advertise, 'a base URL such as http://10.0.3.7:8787, with no path');
  }
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') throw invalid(advertise, 'an address the other nodes can reach, not a wildcard');
  return { storeUrl, advertiseUrl: url.origin, clusterKey: clusterKey as Buffer };
}

/** A PostgreSQL URL, checked for its form here so that a typo stops berth at once, before anything is opened. */
function storeUrlOf({ value, name }: { value: string | undefined; name: string }): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') || url.hostname === '' || url.pathname.length < 2) {
    throw new BerthError(
      'validation_failed',
      `${name} must be a PostgreSQL URL, postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE; unset, berth keeps its records in its home`,
    );
  }
  return value;
}

/** What `berth store copy` is given: the node's home to copy from, the cluster's store, and their secret keys. */
export interface StoreCopyConfig {
  fromHome: string;
  toUrl: string;
  /** The cluster's secret key (`BERTH_SECRET_KEY`), which the copied secrets are sealed under. */
  secretKey: Buffer;
  /** The node's own, when it ran with `BERTH_SECRET_KEY` (`BERTH_SOURCE_SECRET_KEY`); else its home's key file. */
  sourceSecretKey?: Buffer;
}

/** Reads `berth store copy --from HOME --to URL`; a missing or malformed part is a clear error. */
export function loadStoreCopyConfig(argv: readonly string[], env: Env): StoreCopyConfig {
  let values: { from?: string | undefined; to?: string | undefined };
  try {
    values = parseArgs({ args: [...argv], options: { from: { type: 'string' }, to: { type: 'string' } }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new BerthError('validation_failed', (error as Error).message);
  }
  if (values.from === undefined) throw new BerthError('validation_failed', '--from is required: the home of the berth node whose records to copy');
  // The URL may hold a password: BERTH_STORE_URL keeps it off the command line.
  const toUrl = values.to === undefined ? storeUrlOf({ value: env.BERTH_STORE_URL, name: 'BERTH_STORE_URL' }) : storeUrlOf({ value: values.to, name: '--to' });
  if (toUrl === undefined) throw new BerthError('validation_failed', "--to (or BERTH_STORE_URL) is required: the cluster's PostgreSQL URL");
  const secretKey = keyOf(env, 'BERTH_SECRET_KEY');
  if (secretKey === undefined) {
    throw new BerthError('validation_failed', "BERTH_SECRET_KEY is required: the cluster's secret key, which the copied secrets are sealed under");
  }
  const sourceSecretKey = keyOf(env, 'BERTH_SOURCE_SECRET_KEY');
  return { fromHome: resolve(values.from), toUrl, secretKey, ...(sourceSecretKey ? { sourceSecretKey } : {}) };
}

/** berth's home when neither `--home` nor `BERTH_HOME` names one: `/var/lib/berth` for root, else `~/.berth`. */
export function defaultHome(): string {
  return process.getuid?.() === 0 ? '/var/lib/berth' : resolve(homedir(), '.berth');
}

function parseFlags(argv: readonly string[]): {
  host?: string;
  port?: string;
  home?: string;
  driver?: string;
  awsAuth?: string;
  store?: string;
  advertiseUrl?: string;
} {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        home: { type: 'string' },
        driver: { type: 'string' },
        'aws-auth': { type: 'string' },
        store: { type: 'string' },
        'advertise-url': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const { 'aws-auth': awsAuth, 'advertise-url': advertiseUrl, ...rest } = values;
    return { ...rest, ...(awsAuth === undefined ? {} : { awsAuth }), ...(advertiseUrl === undefined ? {} : { advertiseUrl }) };
  } catch (error) {
    throw new BerthError(
      'validation_failed',
      `${(error as Error).message}; berth serve takes --host, --port, --home, --driver, --store, --advertise-url and --aws-auth`,
    );
  }
}
