/**
 * The `berth` command (every subcommand but `serve`, which bin/berth hands to src/server.ts). It talks to a berth
 * node only through the `/v1` HTTP API.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Env } from '../config/config.ts';
import { adminKey, adminKeyFile } from './admin-key.ts';
import { ApiClient, ApiError, type SessionView } from './api-client.ts';
import { packDirectory } from './pack.ts';
import { runShell, type ShellTerminal } from './shell.ts';
import { counted, progress, timedWork, type Io, type Progress } from './progress.ts';

export type { Io } from './progress.ts';
import type { DeployRequest } from '../core/runtime-spec.ts';

const USAGE = `usage: berth <command> [options]

  serve     [--host 127.0.0.1] [--port 8787] [--home DIR] [--driver bwrap|gvisor|process] [--aws-auth sigv4|off]
  deploy    npm:PACKAGE[@VERSION] --name NAME [--bin NAME] [the options below] [-- ARGS...]
            a published server: the node installs it with its dependencies (nothing is fetched in the
            sandbox) and runs its bin over stdio unless --transport says otherwise; ARGS are the server's
  deploy    DIR --name NAME --command CMD [--transport stdio|http] [--port 8000] [--path /mcp]
            [--protocol mcp|http|a2a|agui] [--server-era auto|modern|legacy] [--env K=V]... [--idle-timeout S] [--max-lifetime S]
            (an a2a agent listens on port 9000 at /, an agui one on 8080, as AgentCore's contracts say, unless given)
            [--secret-env K]...   (a secret variable, its value from this command's environment; stored encrypted)
            [--memory-mb N] [--pids N] [--cpus N] [--workspace-mb N] [--open-files N] [--driver bwrap|gvisor]
            [--network none|egress|host] [--allow HOST|*.DOMAIN|CIDR]...   (--allow alone means egress)
            [--authorizer none|apiKey|jwt] [--discovery-url URL] [--audience A]... [--client C]... [--scope S]...
            [--session-scope session|principal]   (principal: each caller keeps one session, no session id needed)
            [--sessionless-clients stateful|stateless]   (stateless: a client naming no session may speak 2026-07-28
                                                          without one; stateful, the default, steers it to initialize)
            [--rate-limit PER_SECOND] [--caller-rate-limit PER_SECOND]   (for the runtime, and for each caller)
            [--warm-pool N]   (N sandboxes of the current version kept started on each node: a new session takes one)
            [--pool-wait S]   (how long deploy shows the pool filling, default 120; 0 returns at once)
            [--warmup /PATH[:PORT]]   (a POST each sandbox's server must answer 2xx before it takes a session)
  push      DIR        uploads DIR as an artifact and prints its id (for AgentCore's
                       codeConfiguration: code.s3 = {bucket: "berth", prefix: ID})
  runtimes
  sessions  [--runtime NAME] [--watch [--interval S]]   (--watch: the list again every S seconds, 2 by default)
  nodes                the nodes of the cluster (a node alone lists itself), with their leases and load
  stop      SESSION
  logs      SESSION [--tail N]   what the session's server wrote (stderr; stdout too for HTTP servers)
  shell     SESSION [--shell-id ID]   an interactive shell in the session's sandbox (exit ends it; the same
                       --shell-id reattaches to a shell left open, with what it printed meanwhile)
  keys      [--runtime NAME]     lists API keys (never the keys themselves)
  keys create --runtime NAME [--user USER] [--description TEXT]   a key to the runtime's sessions, as USER
  keys create --admin [--description TEXT]                        a key to this control API
  keys revoke ID
  store copy --from HOME --to postgresql://USER@HOST:PORT/DB
                       moves a node's records (runtimes, versions, endpoints, keys, code, ended sessions) from its
                       home into a cluster's store; BERTH_SECRET_KEY is the cluster's (secrets are sealed again)

Every command but serve and store takes --url (default http://127.0.0.1:8787, or BERTH_URL). The control API takes an admin
key: BERTH_ADMIN_KEY, else the first one berth made, in <home>/keys/admin-key (home: BERTH_HOME or berth's default).
`;

class UsageError extends Error {}

/** Where AgentCore's contracts have A2A and AG-UI agents listen, for a deploy that does not say. */
const CONTRACT_PORTS: Record<string, number | undefined> = { a2a: 9000, agui: 8080 };
const CONTRACT_PATHS: Record<string, string | undefined> = { a2a: '/', agui: '/invocations' };

export async function main(argv: readonly string[], env: Env, io: Io = defaultIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'deploy':
        return await deploy(rest, env, io);
      case 'push':
        return await push(rest, env, io);
      case 'runtimes':
        return await runtimes(rest, env, io);
      case 'sessions':
        return await sessions(rest, env, io);
      case 'nodes':
        return await nodes(rest, env, io);
      case 'stop':
        return await stop(rest, env, io);
      case 'logs':
        return await logs(rest, env, io);
      case 'shell':
        return await shell(rest, env, io);
      case 'keys':
        return await keys(rest, env, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`berth ${command ?? ''}: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ApiError) {
      const hint =
        error.status === 401 && adminKey(env) === undefined ? `\n(no admin key: BERTH_ADMIN_KEY is unset and ${adminKeyFile(env)} cannot be read)` : '';
      io.err(`berth ${command}: ${error.message}${hint}\n`);
      return 1;
    }
    throw error;
  }
}

function defaultIo(): Io {
  return { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text), tty: process.stderr.isTTY === true };
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: readonly string[], options: T, positionals: number) {
  try {
    const parsed = parseArgs({ args: [...args], options: { ...options, url: { type: 'string' } }, strict: true, allowPositionals: positionals > 0 });
    if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
    return parsed;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError((error as Error).message);
  }
}

function client(url: string | undefined, env: Env): ApiClient {
  return new ApiClient(url ?? env.BERTH_URL ?? 'http://127.0.0.1:8787', adminKey(env));
}

function integerFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

function decimalFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${flag} must be a number from ${min} to ${max}, got "${value}"`);
  return n;
}

function oneOfFlag<T extends string>(value: string | undefined, flag: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

async function deploy(args: readonly string[], env: Env, io: Io): Promise<number> {
  // Everything after the first `--` is the published server's own arguments, whatever they look like.
  const dash = args.indexOf('--');
  const serverArgs = dash === -1 ? undefined : args.slice(dash + 1);
  const { values, positionals } = parse(
    dash === -1 ? args : args.slice(0, dash),
    {
      name: { type: 'string' },
      command: { type: 'string' },
      bin: { type: 'string' },
      transport: { type: 'string' },
      port: { type: 'string' },
      path: { type: 'string' },
      protocol: { type: 'string' },
      'server-era': { type: 'string' },
      env: { type: 'string', multiple: true },
      'secret-env': { type: 'string', multiple: true },
      'idle-timeout': { type: 'string' },
      'max-lifetime': { type: 'string' },
      'warm-pool': { type: 'string' },
      'pool-wait': { type: 'string' },
      warmup: { type: 'string' },
      'memory-mb': { type: 'string' },
      pids: { type: 'string' },
      cpus: { type: 'string' },
      'workspace-mb': { type: 'string' },
      'open-files': { type: 'string' },
      driver: { type: 'string' },
      network: { type: 'string' },
      allow: { type: 'string', multiple: true },
      authorizer: { type: 'string' },
      'discovery-url': { type: 'string' },
      audience: { type: 'string', multiple: true },
      client: { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      'session-scope': { type: 'string' },
      'sessionless-clients': { type: 'string' },
      'rate-limit': { type: 'string' },
      'caller-rate-limit': { type: 'string' },
    },
    1,
  );
  const source = positionals[0];
  const spec = source?.startsWith(NPM_PREFIX) ? source.slice(NPM_PREFIX.length) : undefined;
  const dir = spec === undefined ? codeDirectory(source, 'berth deploy DIR --name NAME --command CMD (or berth deploy npm:PACKAGE --name NAME)') : undefined;
  if (values.name === undefined) throw new UsageError('--name is required: the runtime name clients will call');
  if (spec === undefined) {
    if (values.command === undefined) throw new UsageError('--command is required: how to start the server, such as --command "node server.js"');
    if (serverArgs !== undefined)
      throw new UsageError(
        "arguments after -- go to a published server (berth deploy npm:PACKAGE … -- ARGS); give a directory's server its arguments in --command",
      );
    if (values.bin !== undefined)
      throw new UsageError("--bin chooses the bin of a published server (berth deploy npm:PACKAGE --bin NAME); a directory's server starts with --command");
  } else if (values.command !== undefined) {
    throw new UsageError(
      "--command goes with a directory; a published server runs its package's bin (--bin NAME picks one of several), with the arguments after --",
    );
  }
  const variables: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env takes K=V, got "${pair}"`);
    variables[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const secrets: Record<string, string> = {};
  for (const name of values['secret-env'] ?? []) {
    // The value comes from the environment, never the command line, where any user's ps would show it.
    const value = env[name];
    if (name.includes('='))
      throw new UsageError(
        `--secret-env takes a variable's name; put its value in this command's environment (${name.slice(0, name.indexOf('='))}=… berth deploy …)`,
      );
    if (value === undefined) throw new UsageError(`--secret-env ${name}: ${name} is not set in this command's environment`);
    secrets[name] = value;
  }
  const body: DeployRequest = {
    artifactId: '',
    command: values.command as string,
    ...(Object.keys(secrets).length > 0 ? { secretEnv: secrets } : {}),
    // Published MCP servers speak stdio unless told otherwise; /v1's own default is AgentCore's, HTTP.
    transport: oneOfFlag(values.transport, '--transport', ['stdio', 'http'] as const) ?? (spec === undefined ? undefined : 'stdio'),
    port: integerFlag(values.port, '--port', 1, 65535) ?? CONTRACT_PORTS[values.protocol ?? ''],
    path: values.path ?? CONTRACT_PATHS[values.protocol ?? ''],
    protocol: oneOfFlag(values.protocol, '--protocol', ['mcp', 'http', 'a2a', 'agui'] as const),
    serverEra: oneOfFlag(values['server-era'], '--server-era', ['auto', 'modern', 'legacy'] as const),
    env: variables,
    idleTimeoutSeconds: integerFlag(values['idle-timeout'], '--idle-timeout', 1, 28_800),
    maxLifetimeSeconds: integerFlag(values['max-lifetime'], '--max-lifetime', 1, 1_209_600),
    limits: {
      memoryMb: integerFlag(values['memory-mb'], '--memory-mb', 16, 1024 * 1024),
      pids: integerFlag(values.pids, '--pids', 8, 1_000_000),
      cpus: decimalFlag(values.cpus, '--cpus', 0.01, 1024),
      workspaceMb: integerFlag(values['workspace-mb'], '--workspace-mb', 1, 1024 * 1024),
      openFiles: integerFlag(values['open-files'], '--open-files', 64, 1_048_576),
    },
    driver: oneOfFlag(values.driver, '--driver', ['bwrap', 'gvisor'] as const),
    network: networkFlags(values.network, values.allow),
    authorizer: authorizerFlags(values),
    sessionScope: oneOfFlag(values['session-scope'], '--session-scope', ['session', 'principal'] as const),
    sessionlessClients: oneOfFlag(values['sessionless-clients'], '--sessionless-clients', ['stateful', 'stateless'] as const),
    rateLimits: rateLimitFlags(values['rate-limit'], values['caller-rate-limit']),
    ...(values['warm-pool'] === undefined ? {} : { warmPool: { size: integerFlag(values['warm-pool'], '--warm-pool', 0, 1000) as number } }),
    ...(values.warmup === undefined ? {} : { warmup: warmupFlag(values.warmup) }),
  };
  const poolWait = integerFlag(values['pool-wait'], '--pool-wait', 0, 3600) ?? 120;
  const api = client(values.url, env);
  const line = progress(io);
  if (spec !== undefined) {
    const installed = await timedWork(
      line,
      `installing npm:${spec} on the node`,
      api.installPackage({ npm: spec, args: serverArgs ?? [], ...(values.bin === undefined ? {} : { bin: values.bin }) }),
    );
    io.err(`installed ${installed.package.name}@${installed.package.version} (${installed.artifactId}): ${installed.command}\n`);
    body.command = installed.command;
    body.artifactId = installed.artifactId;
  } else {
    const hint = downloadHint(values.command as string, values.name, body.network);
    if (hint !== undefined) io.err(`berth deploy: ${hint}\n`);
    body.artifactId = (await api.uploadArtifact(counted(packDirectory(dir as string), `uploading ${dir}`, line))).artifactId;
  }
  const version = await api.deploy(values.name, body);
  if (body.warmPool && body.warmPool.size > 0 && poolWait > 0) await waitForPool(api, values.name, body.warmPool.size, poolWait, line);
  io.out(`${version.runtime} v${version.version}\n`);
  return 0;
}

/** Shows a new version's warm pool filling, for up to `seconds`; a pool still filling then goes on filling on its own. */
async function waitForPool(api: ApiClient, name: string, size: number, seconds: number, line: Progress): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  let ready = 0;
  while (performance.now() < deadline) {
    ready = (await api.runtime(name)).warmPool?.ready ?? 0;
    if (ready >= size) {
      line.done(`warm pool of ${name}: ${size}/${size} ready`);
      return;
    }
    line.update(`warm pool of ${name}: ${ready}/${size} ready`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  line.done(`warm pool of ${name}: ${ready}/${size} ready after ${seconds} s; it goes on filling (berth runtimes shows it)`);
}

const NPM_PREFIX = 'npm:';

/** Commands that fetch their server from a registry each time they start. */
const DOWNLOADERS = /^\s*(npx|npm\s+exec|pnpm\s+dlx|yarn\s+dlx|bunx|uvx)(\s|$)/;

/**
 * A warning for a command that downloads its server when it starts (`npx -y PKG`): a sandbox without network
 * cannot, and the server never starts. For npx, the published-server deploy that does the same.
 */
/** `--warmup /PATH[:PORT]`: the hook's path, and its port when not the server's. */
function warmupFlag(value: string): { path: string; port?: number } {
  const match = /^(\/[^:]*)(?::(\d+))?$/.exec(value);
  if (!match) throw new UsageError(`--warmup ${value}: give the hook's path, and its port when not the server's: /warmup or /warmup:8080`);
  const port = integerFlag(match[2], '--warmup port', 1, 65535);
  return { path: match[1] as string, ...(port === undefined ? {} : { port }) };
}

function downloadHint(command: string, name: string, network: unknown): string | undefined {
  const downloader = DOWNLOADERS.exec(command)?.[1];
  if (downloader === undefined || (network !== undefined && (network as { mode: string }).mode !== 'none')) return undefined;
  const words = command.trim().split(/\s+/);
  const start = words.slice(1).findIndex((word) => !word.startsWith('-')) + 1;
  const instead =
    downloader === 'npx' && start > 0
      ? `berth deploy npm:${words[start]} --name ${name}${words.length > start + 1 ? ` -- ${words.slice(start + 1).join(' ')}` : ''}`
      : 'berth deploy npm:PACKAGE --name NAME [-- ARGS…] (for an npm package)';
  return `warning: "${downloader}" downloads the server when it starts, but a sandbox has no network, so it will not start; install it on the node instead: ${instead}`;
}

/** `--network` and `--allow` as a runtime's network policy: an allowlist alone means egress; egress needs one. */
function networkFlags(mode: string | undefined, allow: string[] | undefined): DeployRequest['network'] {
  const chosen = oneOfFlag(mode, '--network', ['none', 'egress', 'host'] as const) ?? (allow ? 'egress' : undefined);
  if (chosen === 'egress') {
    if (!allow) throw new UsageError('--network egress needs what it may reach: --allow api.example.com (a host, *.domain or CIDR; repeat it)');
    return { mode: chosen, allow };
  }
  if (allow) throw new UsageError(`--allow goes with --network egress, not --network ${chosen}`);
  return chosen === undefined ? undefined : { mode: chosen };
}

/** `--authorizer` and the jwt flags as a runtime's authorizer; a discovery URL alone means jwt. */
function authorizerFlags(values: {
  authorizer?: string;
  'discovery-url'?: string;
  audience?: string[];
  client?: string[];
  scope?: string[];
}): DeployRequest['authorizer'] {
  const chosen =
    oneOfFlag(values.authorizer, '--authorizer', ['none', 'apiKey', 'jwt'] as const) ?? (values['discovery-url'] !== undefined ? 'jwt' : undefined);
  const jwtFlags = { allowedAudience: values.audience, allowedClients: values.client, requiredScopes: values.scope };
  if (chosen === 'jwt') {
    if (values['discovery-url'] === undefined)
      throw new UsageError("--authorizer jwt needs the issuer's --discovery-url https://…/.well-known/openid-configuration");
    return { type: 'jwt', discoveryUrl: values['discovery-url'], ...jwtFlags };
  }
  if (Object.values(jwtFlags).some((list) => list !== undefined)) throw new UsageError('--audience, --client and --scope go with --authorizer jwt');
  return chosen === undefined ? undefined : { type: chosen };
}

/** `--rate-limit` and `--caller-rate-limit` as the runtime's rate limits (requests a second, that many at once). */
function rateLimitFlags(runtime: string | undefined, caller: string | undefined): DeployRequest['rateLimits'] {
  const limit = (value: string | undefined, flag: string) => {
    const perSecond = decimalFlag(value, flag, 0.001, 1_000_000);
    return perSecond === undefined ? undefined : { perSecond };
  };
  const limits = { runtime: limit(runtime, '--rate-limit'), principal: limit(caller, '--caller-rate-limit') };
  return limits.runtime || limits.principal ? limits : undefined;
}

/** `berth push DIR`: the directory into the artifact store, its id out, for an AgentCore codeConfiguration. */
async function push(args: readonly string[], env: Env, io: Io): Promise<number> {
  const { values, positionals } = parse(args, {}, 1);
  const dir = codeDirectory(positionals[0], 'berth push DIR');
  const artifact = await client(values.url, env).uploadArtifact(counted(packDirectory(dir), `uploading ${dir}`, progress(io)));
  io.out(`${artifact.artifactId}\n`);
  return 0;
}

function codeDirectory(arg: string | undefined, usage: string): string {
  if (arg === undefined) throw new UsageError(`name the directory that holds the code: ${usage}`);
  const dir = resolve(arg);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new UsageError(`directory ${dir} does not exist`);
  }
  if (!isDir) throw new UsageError(`${dir} is not a directory; give the directory that holds the server's code`);
  return dir;
}

async function runtimes(args: readonly string[], env: Env, io: Io): Promise<number> {
  const { values } = parse(args, {}, 0);
  const list = await client(values.url, env).runtimes();
  const rows = list.map((r) => [r.name, `v${r.latestVersion}`, r.spec.transport, r.spec.command, String(r.liveSessions), r.updatedAt]);
  io.out(table(['NAME', 'VERSION', 'TRANSPORT', 'COMMAND', 'SESSIONS', 'UPDATED'], rows));
  return 0;
}

async function sessions(args: readonly string[], env: Env, io: Io): Promise<number> {
  const { values } = parse(args, { runtime: { type: 'string' }, watch: { type: 'boolean' }, interval: { type: 'string' } }, 0);
  const api = client(values.url, env);
  if (!values.watch) {
    io.out(sessionsTable(await api.sessions(values.runtime)));
    return 0;
  }
  const seconds = decimalFlag(values.interval, '--interval', 0.5, 3600) ?? 2;
  // Until interrupted: the table again every interval, over the last one on a terminal, after a rule elsewhere.
  const stop = new AbortController();
  const interrupted = (): void => stop.abort();
  process.once('SIGINT', interrupted);
  try {
    while (!stop.signal.aborted) {
      const table = sessionsTable(await api.sessions(values.runtime));
      io.out(io.tty ? `\x1b[H\x1b[2J${new Date().toISOString()}  every ${seconds} s, Ctrl-C to stop\n${table}` : `--- ${new Date().toISOString()}\n${table}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        stop.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  } finally {
    process.off('SIGINT', interrupted);
  }
  return 0;
}

function sessionsTable(list: SessionView[]): string {
  const rows = list.map((s) => [
    s.id,
    s.runtime,
    `v${s.version}`,
    s.state,
    String(s.pid ?? '-'),
    formatBytes(s.memoryBytes),
    s.createdAt,
    s.lastActiveAt,
    s.node,
  ]);
  return table(['SESSION', 'RUNTIME', 'VERSION', 'STATE', 'PID', 'MEMORY', 'CREATED', 'LAST ACTIVE', 'NODE'], rows);
}

async function nodes(args: readonly string[], env: Env, io: Io): Promise<number> {
  const { values } = parse(args, {}, 0);
  const list = await client(values.url, env).nodes();
  const rows = list.map((n) => [
    `${n.id}${n.self ? ' *' : ''}`,
    n.url,
    n.live ? n.state : 'lease lapsed',
    `${n.sessions}/${n.capacity}`,
    n.leaseUntil ?? '-',
    n.startedAt,
  ]);
  io.out(table(['NODE (* answered)', 'URL', 'STATE', 'SESSIONS', 'LEASE UNTIL', 'STARTED'], rows));
  return 0;
}

async function stop(args: readonly string[], env: Env, io: Io): Promise<number> {
  const { values, positionals } = parse(args, {}, 1);
  const id = positionals[0];
  if (id === undefined) throw new UsageError('name the session to stop: berth stop SESSION');
  await client(values.url, env).stopSession(id);
  io.out(`stopped ${id}\n`);
  return 0;
}

/** `berth logs SESSION [--tail N]`: what the session's server wrote, oldest first, each line with its time. */
async function logs(args: readonly string[], env: Env, io: Io): Promise<number> {
  const { values, positionals } = parse(args, { tail: { type: 'string' } }, 1);
  const id = positionals[0];
  if (id === undefined) throw new UsageError('name the session whose logs to show: berth logs SESSION [--tail N]');
  const result = await client(values.url, env).sessionLogs(id, integerFlag(values.tail, '--tail', 0, 1_000_000_000));
  if (result.dropped > 0) io.out(`(${result.dropped} older lines dropped)\n`);
  for (const { at, line } of result.lines) io.out(`${at} ${line}\n`);
  if (!result.live) io.out('(the session has ended)\n');
  return 0;
}

/** `berth shell SESSION [--shell-id ID]`: a shell in a live session's sandbox, on this terminal; exits with the shell's status. */
async function shell(args: readonly string[], env: Env, io: Io): Promise<number> {
  const { values, positionals } = parse(args, { 'shell-id': { type: 'string' } }, 1);
  const id = positionals[0];
  if (id === undefined) throw new UsageError('name the session to open a shell in: berth shell SESSION');
  const shellId = values['shell-id'];
  if (shellId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(shellId)) {
    throw new UsageError('a --shell-id is 1 to 128 letters, digits and . _ : -, starting with a letter or digit');
  }
  const api = client(values.url, env);
  // Asked first so that a session that is not there is said plainly (a refused WebSocket says only that it was).
  await api.session(id);
  const { url, key } = api.endpoint;
  return runShell(url, key, id, io.terminal ?? processTerminal(), shellId);
}

function processTerminal(): ShellTerminal {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    size: () => (process.stdout.isTTY ? { columns: process.stdout.columns, rows: process.stdout.rows } : undefined),
    onResize: (listener) => {
      process.on('SIGWINCH', listener);
      return () => process.off('SIGWINCH', listener);
    },
  };
}

/** `berth keys [create|revoke]`: API keys, made (the key printed once, alone on stdout), listed or revoked. */
async function keys(args: readonly string[], env: Env, io: Io): Promise<number> {
  const [action, ...rest] = args[0] === 'create' || args[0] === 'revoke' || args[0] === 'list' ? args : ['list', ...args];
  if (action === 'create') {
    const { values } = parse(rest, { admin: { type: 'boolean' }, runtime: { type: 'string' }, user: { type: 'string' }, description: { type: 'string' } }, 0);
    if ((values.admin === true) === (values.runtime !== undefined))
      throw new UsageError('say what the key opens: --runtime NAME (its sessions) or --admin (this control API)');
    const made = await client(values.url, env).createKey({
      ...(values.admin ? { admin: true } : {}),
      ...(values.runtime !== undefined ? { runtime: values.runtime } : {}),
      ...(values.user !== undefined ? { user: values.user } : {}),
      ...(values.description !== undefined ? { description: values.description } : {}),
    });
    io.err(`made key ${made.id} (${made.admin ? 'admin' : `runtime ${made.runtime ?? ''}, user ${made.user ?? ''}`}); berth shows it only now:\n`);
    io.out(`${made.key}\n`);
    return 0;
  }
  if (action === 'revoke') {
    const { values, positionals } = parse(rest, {}, 1);
    const id = positionals[0];
    if (id === undefined) throw new UsageError('name the key to revoke: berth keys revoke ID');
    await client(values.url, env).revokeKey(id);
    io.out(`revoked ${id}\n`);
    return 0;
  }
  const { values } = parse(rest, { runtime: { type: 'string' } }, 0);
  const list = await client(values.url, env).keys(values.runtime);
  const rows = list.map((k) => [k.id, k.admin ? 'admin' : `runtime:${k.runtime ?? ''}`, k.user ?? '-', k.createdAt, k.revokedAt ?? '-', k.description ?? '']);
  io.out(table(['ID', 'OPENS', 'USER', 'CREATED', 'REVOKED', 'DESCRIPTION'], rows));
  return 0;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  return `${(bytes / (1024 * 1024)).toFixed(1)}M`;
}
