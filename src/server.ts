/**
 * The composition root: one berth node. It reads the configuration, builds the store, the sandbox driver, the
 * session manager, the control plane and the edge, listens, and shuts all of it down in order: on SIGTERM after a
 * drain, on SIGINT at once.
 * Nothing imports this file; `bin/berth serve` runs `main`.
 */
import { hkdfSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isLoopbackHost, loadServeConfig, loadStoreCopyConfig, type Config, type Env } from './config/config.ts';
import { isBerthError } from './core/errors.ts';
import { OutboundPolicy } from './core/outbound-policy.ts';
import { SecretBox } from './core/secret-box.ts';
import { RuntimeService } from './control/runtimes.ts';
import { authorizerOf } from './core/runtime-spec.ts';
import { ApiKeyService } from './control/api-keys.ts';
import { Authenticator } from './edge/auth/authenticator.ts';
import { SessionScope } from './edge/auth/session-scope.ts';
import { createEdge, type AwsApiOptions } from './edge/app.ts';
import { createNodeServer } from './edge/node-adapter.ts';
import { RequestStateSealer } from './mcp/request-state.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { Metrics } from './observability/metrics.ts';
import { BerthMetrics } from './observability/berth-metrics.ts';
import { noTracing, type Tracing } from './observability/tracing.ts';
import { startOtelTracing } from './observability/otel-tracing.ts';
import { watchSessions } from './sessions/session-metrics.ts';
import { primeChannel } from './sandbox/channel-client.ts';
import type { SandboxDriver } from './sandbox/driver.ts';
import { BwrapDriver } from './sandbox/drivers/bwrap/driver.ts';
import { superviseOnHost } from './supervisor/host.ts';
import { DriverChoice } from './sandbox/drivers/choice.ts';
import { GvisorDriver } from './sandbox/drivers/gvisor/driver.ts';
import { ProcessDriver } from './sandbox/drivers/process/driver.ts';
import { buildSupervisor } from './sandbox/supervisor-program.ts';
import { drainSessions } from './sessions/drain.ts';
import { SessionManager } from './sessions/manager.ts';
import { Admission, type ShedReason } from './sessions/admission.ts';
import { availableMemoryBytes } from './sandbox/host-memory.ts';
import { ArtifactStore } from './store/artifacts.ts';
import { copyStore } from './store/copy.ts';
import type { RuntimeSpec } from './store/store.ts';
import { SecretEnv } from './control/secret-env.ts';
import { NpmInstaller } from './store/npm-install.ts';
import { openStore } from './store/open-store.ts';
import type { ClusterRecords } from './store/cluster-records.ts';
import { clusterKeys, type ClusterKeys } from './cluster/cluster-keys.ts';
import { Membership } from './cluster/membership.ts';
import { checkAdvertised, NodeHop, nodeHopRoutes } from './cluster/node-hop.ts';
import { clusterSessions, type SessionsQuery } from './cluster/cluster-sessions.ts';
import { ControlWatch } from './cluster/control-watch.ts';
import { ClusterRateShares } from './cluster/rate-shares.ts';
import { pageOfList } from './control/pages.ts';
import { EndedRecords } from './sessions/ended-records.ts';
import { WarmPools } from './sessions/warm-pool.ts';
import { POOL_MEMORY_MARGIN } from './sessions/session-start.ts';
import type { SessionView } from './control/v1.ts';
import { SessionOwners } from './cluster/session-owners.ts';
import { clusterNodes, soloNode } from './cluster/nodes.ts';
import { KeyFiles } from './store/key-files.ts';

export interface RunningNode {
  url: string;
  /**
   * Drains, then closes: no new session starts (503 `draining`, and `/healthz` says so), while the work under way
   * gets the shutdown grace to finish. The edge keeps listening meanwhile, since a load balancer goes on sending for a
   * while, and the requests of live sessions must still find it.
   */
  drain(): Promise<void>;
  /** Ends every session and stops listening, at once. */
  close(): Promise<void>;
}

/** What a node may be started with beside its configuration. */
export interface NodeParts {
  /** Makes the sandboxes instead of the configured driver: the edge's in-process tests use a fake one, no root needed. */
  driver?: SandboxDriver;
}

export async function startNode(config: Config, logger: Logger, parts: NodeParts = {}): Promise<RunningNode> {
  mkdirSync(config.home, { recursive: true, mode: 0o711 });
  const { store, database, cluster, directory, archive } = await openStore(
    config.storeUrl === undefined ? { sqlite: join(config.home, 'berth.db') } : { postgresql: config.storeUrl },
    {
      onIdleError: (error) => logger.warn('the store dropped an idle connection; the next statement opens another', { err: error }),
    },
  );
  const artifacts = new ArtifactStore(join(config.home, 'artifacts'), archive);
  const staged = artifacts.sweepStaging();
  if (staged.count > 0) logger.warn('removed artifact uploads that an unclean stop of berth cut short', { dirs: staged.count, bytes: staged.bytes });
  const supervisorPath = await buildSupervisor(join(config.home, 'cache'));
  // berth's own ports, which no sandbox's egress reaches; known once the edge listens.
  const berthPorts: number[] = [];
  const outbound = new OutboundPolicy(config.outboundAllow, berthPorts);
  const keys = new KeyFiles(config.home);
  const secrets = new SecretBox(keys.secretKey(config.secretKey));
  keys.checkSecretKey(secrets);
  const derivedKeys = config.clusterKey && clusterKeys(config.clusterKey);
  if (cluster && derivedKeys) await agreeOnKeys(cluster, derivedKeys, secrets);
  // The requestState key is the secret the nodes of a cluster share; the session scope's key is derived from it.
  const stateKey = config.requestStateKey ?? derivedKeys?.requestState ?? keys.sealedKey('request-state.key', secrets);
  const aws = awsApi(config, logger);
  // Last of what may refuse to start, so that a refusal leaves nothing of the driver's (cgroup parents) behind.
  const driver = parts.driver ?? (await createDriver(config, supervisorPath, logger, berthPorts));
  const scope = new SessionScope(Buffer.from(hkdfSync('sha256', stateKey, Buffer.alloc(0), 'berth session scope', 32)));
  const metrics = new BerthMetrics(new Metrics());
  // Off unless an OTLP endpoint is set: then, and only then, OpenTelemetry's SDK is loaded.
  const tracing: Tracing = config.tracing ? await startOtelTracing(config.tracing, logger) : noTracing;
  if (config.tracing) logger.info('tracing: spans go to an OTLP collector', { url: config.tracing.url, protocol: config.tracing.protocol });
  const shed = metrics.registry.counter('berth_load_shed_total', 'Requests and new sessions this node turned away to protect itself, by reason.');
  const onShed = (reason: ShedReason): void => shed({ reason });
  // What a warm call costs the store is nothing: this shows it (and what the node asks in the background).
  metrics.registry.counted(
    'berth_store_statements_total',
    "Statements this node sent to its store (a transaction's BEGIN and COMMIT count).",
    () => database.statements,
  );
  const admission = new Admission({ ...config.admission, availableMemory: () => availableMemoryBytes(), onShed });
  // Sandboxes started ahead of sessions, within the node's start limits and never past its session cap.
  const pools: WarmPools = new WarmPools({
    start: (spec) => admission.startSpare(() => driver.start(spec)),
    room: () => config.maxSessions - sessions.size - pools.size,
    mayGrow: () => (admission.spareMemory() ?? Infinity) >= POOL_MEMORY_MARGIN,
    specOf: (target) => sessions.sandboxSpecOf(target),
    prime: primeChannel,
    logger,
  });
  const sessions = new SessionManager({
    driver,
    logger,
    pools,
    maxSessions: config.maxSessions,
    unclaimedTimeoutSeconds: config.lifecycle.unclaimedTimeoutSeconds,
    admission,
    onShed,
    mayCreate: (id, runtime, principal) => scope.mayCreate(id, runtime, principal),
    metrics,
    tracing,
  });
  watchSessions(metrics, sessions, config.maxSessions);
  const runtimes = new RuntimeService(store, artifacts, sessions, secrets, {
    idleTimeoutSeconds: config.lifecycle.idleTimeoutSeconds,
    maxLifetimeSeconds: config.lifecycle.maxLifetimeSeconds,
    startTimeoutMs: config.startTimeoutMs,
    inputTimeoutMs: config.inputTimeoutMs,
    perSession: config.perSession,
    logBytes: config.sessionLogBytes,
    onOpenVersion: (name) => warnOpen(config, logger, name),
    outbound,
    limits: {
      memoryBytes: config.sandbox.memoryBytes,
      pids: config.sandbox.pids,
      cpus: config.sandbox.cpus,
      tmpBytes: config.sandbox.tmpBytes,
      workspaceBytes: config.sandbox.workspaceBytes,
      openFiles: config.sandbox.openFiles,
    },
  });
  const endedRecords = new EndedRecords(store, logger);
  const apiKeys = new ApiKeyService(store, (name) => runtimes.exists(name));
  // A deleted runtime's keys went with it: none this node kept may open a runtime made later under its name.
  runtimes.onDeleted(() => apiKeys.forgetKept());
  // Each runtime's warm pool follows its current version: at start, and after every change to the control plane.
  const syncPools = oneAtATime(() => keepPools(runtimes, pools, logger));
  runtimes.onDeployed(syncPools);
  runtimes.onDeleted(syncPools);
  // On a node of a cluster, what the other nodes change drops what this one kept.
  const controlWatch =
    cluster &&
    new ControlWatch(
      cluster,
      () => {
        runtimes.forgetKept();
        apiKeys.forgetKept();
        syncPools();
      },
      logger,
    );
  /** Undoes a start that fails once the driver is made, so that it leaves nothing of the driver's (cgroups, launchers). */
  const undo = async (): Promise<void> => {
    await pools.close();
    await sessions.close();
    await driver.close();
    controlWatch?.stop();
    await endedRecords.close();
    await store.close();
    await tracing.shutdown();
  };
  try {
    for (const runtime of await runtimes.list()) {
      if (authorizerOf((await runtimes.version(runtime.name, runtime.latestVersion)).spec) === undefined) warnOpen(config, logger, runtime.name);
    }
    await controlWatch?.start();
    await firstAdminKey(keys, apiKeys, logger);
  } catch (error) {
    await undo();
    throw error;
  }
  const startedAt = new Date().toISOString();
  let listening = '';
  const membership =
    cluster && config.advertiseUrl
      ? new Membership({
          records: cluster,
          url: config.advertiseUrl,
          capacity: config.maxSessions,
          load: () => ({ state: sessions.draining ? 'draining' : 'live', sessions: sessions.size }),
          logger,
          // Taken for dead: the sessions it held are other nodes' now, and their sandboxes here end.
          onExpelled: () => {
            for (const id of owners?.expelled() ?? []) {
              lostHere.add(id);
              void sessions.stop(id).then(
                (stopped) => stopped || lostHere.delete(id),
                () => lostHere.delete(id),
              );
            }
          },
        })
      : undefined;
  if (membership) {
    metrics.registry.gauge('berth_cluster_nodes_live', 'Nodes of the cluster whose lease runs, as this node last saw them.', () => membership.liveCount);
    metrics.registry.gauge('berth_node_lease_held', "1 while this node holds its lease in the cluster's store, else 0.", () => (membership.holdsLease ? 1 : 0));
  }
  // Sessions this node ends because it was taken for dead are another node's to record (as node-lost).
  const lostHere = new Set<string>();
  sessions.onEnd((ended) => {
    if (!lostHere.delete(ended.id)) endedRecords.keep(ended);
    // A session's end frees room a pool that gave way may fill again.
    pools.refill();
  });
  const owners =
    cluster && membership && directory
      ? new SessionOwners({
          directory,
          membership,
          logger,
          isLive: (id) => sessions.has(id),
          // A node that is full or draining places new sessions on the member with the most room.
          hasRoom: () => !sessions.draining && sessions.size < config.maxSessions,
          // A session whose node died ends there unseen: the node taking its id over records the loss.
          // (An entry that does not say what ran, from before the store kept it, leaves no record.)
          // The lost node's URL, while the store still names it (its first lost session removes it); else its id.
          onLost: ({ session, runtime, version, principal, owner, ownerUrl }) => {
            if (version === undefined || principal === undefined) return;
            const node = ownerUrl ?? owner;
            endedRecords.keep({ id: session, runtime, version, principal, endedAt: new Date().toISOString(), reason: 'node-lost', node, limits: [] });
          },
        })
      : undefined;
  if (owners) sessions.onEnd((ended) => owners.ended(ended.id));
  const nodes =
    cluster && membership
      ? clusterNodes(cluster, () => membership.id)
      : soloNode(() => ({
          id: 'node_local',
          url: listening,
          state: sessions.draining ? 'draining' : 'live',
          startedAt,
          capacity: config.maxSessions,
          sessions: sessions.size,
        }));
  const hop = derivedKeys && new NodeHop(derivedKeys, tracing);
  const rateShares =
    cluster &&
    membership &&
    new ClusterRateShares(
      cluster,
      () => membership.id,
      () => membership.liveCount,
      logger,
    );
  // One page of this node's own sessions, each naming this node.
  const ownSessions = ({ runtime, ...page }: SessionsQuery): SessionView[] =>
    pageOfList(sessions.list(runtime === undefined ? {} : { runtime }), (session) => session.id, page).map((session) => ({
      ...session,
      node: membership?.url ?? listening,
    }));
  const edge = createEdge({
    nodes,
    ...(rateShares ? { rateShares } : {}),
    endedRecords,
    warmPools: pools,
    nodeUrl: () => membership?.url ?? listening,
    ...(membership && derivedKeys
      ? {
          internalRoutes: nodeHopRoutes(derivedKeys, {
            self: () => ({ id: membership.id, url: membership.url }),
            sessions: (query) => ownSessions(query),
          }),
        }
      : {}),
    ...(owners && hop
      ? {
          cluster: { owners, hop },
          listSessions: (query) => clusterSessions(nodes, (url, path, timeoutMs) => hop.ask(url, path, timeoutMs), ownSessions, query),
        }
      : {}),
    runtimes,
    sessions,
    logger,
    metrics,
    tracing,
    maxBodyBytes: config.maxBodyBytes,
    webSocket: config.webSocket,
    maxArtifactBytes: config.maxArtifactBytes,
    npm: new NpmInstaller(store, artifacts, {
      ...config.npm,
      home: join(config.home, 'npm'),
      nodePath: realpathSync(process.execPath),
      maxBytes: config.maxArtifactBytes,
    }),
    sealer: new RequestStateSealer(stateKey),
    scope,
    inputTimeoutMs: config.inputTimeoutMs,
    perSession: config.perSession,
    allowedHosts: config.allowedHosts,
    aws,
    authenticator: new Authenticator({ jwksCooldownMs: config.jwksCooldownMs, apiKeys, outbound }),
    apiKeys,
  });
  const server = createNodeServer(edge, (error) => logger.error('unhandled edge error', { err: error }), { limits: config.connections, onShed });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, resolve);
    });
  } catch (error) {
    // Such as a port in use: what the driver made is removed before berth says why it stops.
    await undo();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  berthPorts.push(address.port);
  listening = url;
  if (membership && derivedKeys) {
    try {
      await checkAdvertised(membership.url, derivedKeys, membership.id);
      await membership.start();
    } catch (error) {
      server.close();
      server.closeAllConnections();
      await undo();
      throw error;
    }
    rateShares?.start();
    logger.info('joined the cluster', { node: membership.id, advertised: membership.url });
  }
  logger.info('edge ready', { url, driver: driver.name, home: config.home });
  syncPools();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await pools.close();
      await sessions.close();
      await driver.close();
      server.closeAllConnections();
      await closed;
      await owners?.close();
      controlWatch?.stop();
      rateShares?.stop();
      await membership?.leave();
      await endedRecords.close();
      await store.close();
      // The spans of the node's last requests go out before it stops.
      await tracing.shutdown();
    })());
  const graceSeconds = config.shutdownGraceSeconds;
  return {
    url,
    drain: async () => {
      // A node that takes no new sessions has no use for sandboxes started ahead of them.
      void pools.close();
      logger.info('berth draining: no new sessions; the work under way has the shutdown grace to finish', {
        graceSeconds,
        sessions: sessions.size,
        working: sessions.working,
      });
      if (await drainSessions(sessions, graceSeconds * 1000)) logger.info('berth drained: no work under way');
      else
        logger.warn('the shutdown grace ran out with work under way, which now ends (BERTH_SHUTDOWN_GRACE_SECONDS)', {
          graceSeconds,
          working: sessions.working,
        });
      await close();
    },
    close,
  };
}

/** A runtime with no authorizer on a berth that listens beyond loopback is anyone's to run: said loudly. */
function warnOpen(config: Config, logger: Logger, runtime: string): void {
  if (isLoopbackHost(config.host)) return;
  logger.warn(
    `runtime "${runtime}" has no authorizer and berth listens on ${config.host}, beyond loopback: anyone who reaches the port can open sessions of it and run its code; deploy it with an authorizer (--authorizer apiKey or jwt)`,
  );
}

/**
 * Every node of a cluster must hold the cluster's key and its secret key: the first node to start leaves a
 * fingerprint of the one and a value sealed with the other in the store, and a node given different keys stops at
 * start, saying which, rather than sealing what the others cannot open.
 */
async function agreeOnKeys(cluster: ClusterRecords, keys: ClusterKeys, secrets: SecretBox): Promise<void> {
  if ((await cluster.agree('cluster-key', keys.fingerprint)) !== keys.fingerprint) {
    throw new Error('BERTH_CLUSTER_KEY is not the key of the cluster whose store this is: give this node the key its other nodes have');
  }
  await agreeOnSecretKey(cluster, secrets);
}

/** The secret-key half of `agreeOnKeys`, which `berth store copy` checks too before it seals anything for the cluster. */
async function agreeOnSecretKey(cluster: ClusterRecords, secrets: SecretBox): Promise<void> {
  const context = 'berth/cluster/secret-check';
  const sealed = await cluster.agree('secret-key', secrets.seal(Buffer.from('berth secret key check'), context));
  if (secrets.open(sealed, context)?.toString('utf8') !== 'berth secret key check') {
    throw new Error('BERTH_SECRET_KEY is not the secret key of the cluster whose store this is: give this node the key its other nodes have');
  }
}

/**
 * The control API takes an admin key. When no admin key is live (first start, or every one revoked), berth makes
 * one and leaves it, owner-only, in `<home>/keys/admin-key`, where the CLI on this machine finds it; every start
 * says where it is, never what it is.
 */
async function firstAdminKey(keys: KeyFiles, apiKeys: ApiKeyService, logger: Logger): Promise<void> {
  const file = keys.path('admin-key');
  if (await apiKeys.needsFirstAdminKey()) {
    const { key } = await apiKeys.create({ admin: true, description: 'made by berth serve: no admin key was live' });
    keys.write('admin-key', `${key}\n`);
    logger.warn(`made an admin key for the control API (/v1 and the berth CLI): it is in ${file}, readable by this user only`);
  } else if (keys.read('admin-key') === undefined) {
    // A node joining a cluster: the key another node made opens this one too.
    logger.info('the store already holds a live admin key (made by another node of the cluster, or an earlier start); use that key here');
  }
  logger.info(
    `the control API takes an admin key: the berth CLI on this machine reads ${file}; elsewhere set BERTH_ADMIN_KEY to its contents (or send Authorization: Bearer <key>); berth keys create --admin makes more`,
  );
}

/**
 * AgentCore's API: its keys are the configured pair and every `ACCESS_KEY_ID SECRET` line of
 * `<home>/keys/aws-credentials`. Running without authentication is said at every start, loudly.
 */
function awsApi(config: Config, logger: Logger): AwsApiOptions {
  const secrets = new Map(config.aws.credentials);
  const file = join(config.home, 'keys', 'aws-credentials');
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // no key file: the configured pair is all
  }
  for (const [index, line] of (text ?? '').split('\n').entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [keyId, secret, extra] = trimmed.split(/\s+/);
    if (!keyId || !secret || extra !== undefined) throw new Error(`${file}:${index + 1}: a line is ACCESS_KEY_ID SECRET_ACCESS_KEY`);
    secrets.set(keyId, secret);
  }
  if (config.aws.auth === 'off') {
    logger.warn(
      'AgentCore API authentication is OFF (--aws-auth off): anyone who reaches this port can deploy and run code; use it for local development only',
    );
  } else if (secrets.size === 0) {
    logger.info('AgentCore API: no access keys configured, so every signed request is refused; set BERTH_AWS_ACCESS_KEY_ID and BERTH_AWS_SECRET_ACCESS_KEY');
  }
  return { auth: { mode: config.aws.auth, secrets }, identity: { region: config.aws.region, accountId: config.aws.accountId } };
}

async function createDriver(config: Config, supervisorPath: string, logger: Logger, berthPorts: readonly number[]): Promise<SandboxDriver> {
  const nodePath = realpathSync(process.execPath);
  const makers = new Map<string, () => Promise<SandboxDriver>>([
    [
      'bwrap',
      async () => {
        const stateDir = join(config.home, 'sandboxes');
        mkdirSync(stateDir, { recursive: true });
        chmodSync(stateDir, 0o711);
        const { uidBase, uidCount } = config.sandbox;
        return BwrapDriver.create({ stateDir, supervisorPath, nodePath, uidBase, uidCount, logger, berthPorts, superviseOnHost });
      },
    ],
    [
      'gvisor',
      () =>
        GvisorDriver.create({
          stateDir: join(config.home, 'gvisor'),
          supervisorPath,
          nodePath,
          logger,
          berthPorts,
          ...(config.runscPath ? { runscPath: config.runscPath } : {}),
        }),
    ],
  ]);
  const defaultDriver =
    config.driver === 'process'
      ? new ProcessDriver({ stateDir: join(config.home, 'sandboxes'), supervisorPath, nodePath, logger })
      : await (makers.get(config.driver) as () => Promise<SandboxDriver>)();
  const choice = new DriverChoice(defaultDriver, makers, logger);
  // gVisor sandboxes an earlier run left (runsc's own processes outlive berth) go now, not at the next gVisor session.
  if (existsSync(join(config.home, 'gvisor'))) await choice.prepare('gvisor');
  return choice;
}

/** How long closing (ending every sandbox) may take before the process exits anyway. */
const CLOSE_TIMEOUT_MS = 15_000;

/** `berth serve`: runs a node until SIGINT or SIGTERM. SIGTERM drains first; SIGINT, or a second SIGTERM, stops at once. */
export async function main(argv: readonly string[], env: Env): Promise<void> {
  let config: Config;
  try {
    config = loadServeConfig(argv, env);
  } catch (error) {
    process.stderr.write(`berth serve: ${isBerthError(error) ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.logLevel, format: config.logFormat, write: (line) => process.stderr.write(`${line}\n`) });
  // A promise that rejects with no one to hear it is a bug in berth, but Node's default would end the process and
  // every session on it with that one request: it is logged loudly, and the node goes on.
  process.on('unhandledRejection', (reason) => logger.error('unhandled promise rejection (a bug in berth; the node goes on serving)', { err: reason }));
  let node: RunningNode;
  try {
    node = await startNode(config, logger);
  } catch (error) {
    logger.error(`berth could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  // The pinned announcement: printed whatever the log level, once berth accepts requests.
  process.stderr.write(`berth listening on ${node.url}\n`);
  let draining = false;
  const stop = (signal: string): void => {
    logger.info('berth stopping', { signal });
    setTimeout(() => process.exit(1), CLOSE_TIMEOUT_MS).unref();
    void node.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => {
    // An operator who sends SIGTERM again will not wait for the drain.
    if (draining) return stop('SIGTERM');
    draining = true;
    setTimeout(() => process.exit(1), config.shutdownGraceSeconds * 1000 + CLOSE_TIMEOUT_MS).unref();
    void node.drain().then(() => process.exit(0));
  });
}

/**
 * `berth store copy --from HOME --to postgresql://…`: moves a node's records (its SQLite home) into a cluster's
 * store without loss, its secrets sealed again under the cluster's secret key, its code kept for every node.
 */
export async function storeMain(argv: readonly string[], env: Env): Promise<number> {
  const [command, ...rest] = argv;
  const fail = (message: string, code: number): number => {
    process.stderr.write(`berth store${command === undefined ? '' : ` ${command}`}: ${message}\n`);
    return code;
  };
  if (command !== 'copy') return fail('usage: berth store copy --from HOME --to postgresql://USER@HOST:PORT/DB (with BERTH_SECRET_KEY)', 2);
  let config;
  try {
    config = loadStoreCopyConfig(rest, env);
  } catch (error) {
    return fail((error as Error).message, 2);
  }
  const file = join(config.fromHome, 'berth.db');
  if (!existsSync(file)) return fail(`${file} does not exist: --from names the home of the berth node whose records to copy`, 2);
  let source: Awaited<ReturnType<typeof openStore>> | undefined;
  try {
    source = await openStore({ sqlite: file });
    const target = await openStore({ postgresql: config.toUrl });
    try {
      const targetSecrets = new SecretBox(config.secretKey);
      await agreeOnSecretKey(target.cluster as ClusterRecords, targetSecrets);
      const sourceKey = config.sourceSecretKey ?? new KeyFiles(config.fromHome).read('secret.key');
      const report = await copyStore({
        from: source.database,
        to: target.database,
        artifacts: new ArtifactStore(join(config.fromHome, 'artifacts'), target.archive),
        reseal: (runtime, json) => {
          const spec = JSON.parse(json) as RuntimeSpec;
          if (!spec.secretEnv) return json;
          if (sourceKey === undefined)
            throw new Error(
              `runtime "${runtime}" has secrets, and ${config.fromHome}/keys/secret.key is missing: set BERTH_SOURCE_SECRET_KEY to the node's key`,
            );
          const opened = new SecretEnv(new SecretBox(sourceKey)).open(runtime, spec.secretEnv);
          return JSON.stringify({ ...spec, secretEnv: new SecretEnv(targetSecrets).seal(runtime, spec.env ?? {}, opened) });
        },
      });
      for (const [table, { copied, present }] of Object.entries(report)) process.stdout.write(`${table}: ${copied} copied, ${present} already there\n`);
      return 0;
    } finally {
      await target.store.close();
    }
  } catch (error) {
    return fail((error as Error).message, 1);
  } finally {
    await source?.store.close();
  }
}

/**
 * Runs `pass` when asked, one run at a time: asked while one runs, it runs once more after (whatever was asked
 * meanwhile), so the last run always sees the last change. A run that fails is tried again a little later.
 */
function oneAtATime(pass: () => Promise<boolean>): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    again = false;
    void pass().then((done) => {
      running = false;
      if (again) run();
      else if (!done) setTimeout(run, POOL_SYNC_RETRY_MS).unref();
    });
  };
  return run;
}

/** How long berth waits to bring the warm pools up to date again after it could not. */
const POOL_SYNC_RETRY_MS = 10_000;

/**
 * Brings every runtime's warm pool to its current version and size: none for a runtime that keeps none, or is gone.
 * Only a runtime whose current version asks for a pool, or that has one, is resolved. False when it could not.
 */
async function keepPools(runtimes: RuntimeService, pools: WarmPools, logger: Logger): Promise<boolean> {
  try {
    const names = new Set<string>();
    const pooled = new Set(pools.runtimes());
    for (const runtime of await runtimes.list()) {
      names.add(runtime.name);
      const latest = await runtimes.version(runtime.name, runtime.latestVersion);
      if (!latest.spec.warmPool && !pooled.has(runtime.name)) continue;
      const resolved = await runtimes.find(runtime.name);
      if (resolved) pools.set(resolved.target, resolved.version.spec.warmPool?.size ?? 0);
    }
    for (const name of pools.runtimes()) if (!names.has(name)) pools.retire(name);
    return true;
  } catch (error) {
    logger.warn('could not bring the warm pools up to date; trying again shortly', { err: error });
    return false;
  }
}
