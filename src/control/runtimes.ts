import type { Readable } from 'node:stream';
import { BerthError } from '../core/errors.ts';
import { checkRuntimeName } from '../core/ids.ts';
import { checkDiscoveryUrl, parseInput } from './validation.ts';
import { OutboundPolicy } from '../core/outbound-policy.ts';
import type { SecretBox } from '../core/secret-box.ts';
import { SecretEnv } from './secret-env.ts';
import type { ArtifactStore } from '../store/artifacts.ts';
import type { ArtifactRecord, EndpointRecord, PageQuery, RuntimeRecord, Store, VersionPageQuery, VersionRecord } from '../store/store.ts';
import { DeployInput, type RuntimeSpec } from '../core/runtime-spec.ts';
import type { SessionManager, SessionTarget } from '../sessions/manager.ts';
import { sessionTarget, type SandboxDefaults } from './runtime-target.ts';

/** The name every runtime has, always pointing at its latest version. */
export const DEFAULT_ENDPOINT = 'DEFAULT';

/** Where berth fetches from when no policy is given: public https hosts only. */
const STRICT_OUTBOUND = new OutboundPolicy([], []);

/** Endpoint names, as AgentCore has them. */
const ENDPOINT_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,47}$/;

export interface RuntimeDefaults extends SandboxDefaults {
  idleTimeoutSeconds: number;
  maxLifetimeSeconds: number;
  /** Told of every version deployed without an authorizer (open to whoever reaches berth). */
  onOpenVersion?: (runtime: string) => void;
  /** Where berth may fetch a jwt authorizer's issuer from; unset, public https hosts only. */
  outbound?: OutboundPolicy;
}

export interface ResolvedRuntime {
  runtime: RuntimeRecord;
  version: VersionRecord;
  /** What a new session of this version runs. */
  target: SessionTarget;
}

/** Runtimes, their immutable versions and their endpoints: deploy, look up, resolve to what a session runs, delete. */
export class RuntimeService {
  readonly #store: Store;
  readonly #artifacts: ArtifactStore;
  readonly #sessions: SessionManager;
  readonly #secrets: SecretEnv;
  readonly #defaults: RuntimeDefaults;
  /**
   * Resolutions by runtime and endpoint: every MCP request needs one, and they change only when this node deploys
   * or deletes (the embedded store has no other writer). Cleared on every such change.
   */
  readonly #resolved = new Map<string, ResolvedRuntime>();
  /** Resolutions dropped on another node's change, kept for a store that does not answer when they are read again. */
  readonly #dropped = new Map<string, ResolvedRuntime>();
  /** Raised by every change to what resolutions read, so a resolution read across a change is not kept. */
  #generation = 0;
  /** Raised by this node's own changes only, after which nothing read before serves again. */
  #ownChanges = 0;
  readonly #deployedListeners: Array<(version: VersionRecord) => void> = [];
  readonly #deletedListeners: Array<(name: string) => void> = [];

  constructor(store: Store, artifacts: ArtifactStore, sessions: SessionManager, secrets: SecretBox, defaults: RuntimeDefaults) {
    this.#store = store;
    this.#secrets = new SecretEnv(secrets);
    this.#artifacts = artifacts;
    this.#sessions = sessions;
    this.#defaults = defaults;
  }

  async uploadArtifact(body: Readable, maxBytes: number): Promise<ArtifactRecord> {
    const record = await this.#artifacts.receive(body, maxBytes);
    await this.#store.putArtifact(record);
    return record;
  }

  /** Stores a new version of `name` (version 1 creates the runtime). */
  async deploy(name: string, input: unknown): Promise<VersionRecord> {
    checkRuntimeName(name);
    const value = parseInput(DeployInput, input, `runtime "${name}" was not deployed`);
    if (!(await this.#store.getArtifact(value.artifactId))) {
      throw new BerthError('artifact_not_found', `artifact ${value.artifactId} does not exist; upload the code with POST /v1/artifacts first`);
    }
    await this.#artifacts.ensure(value.artifactId);
    const spec: RuntimeSpec = {
      artifactId: value.artifactId,
      command: value.command,
      transport: value.transport,
      port: value.port,
      path: value.path,
      protocol: value.protocol,
      serverEra: value.serverEra,
      env: value.env,
      idleTimeoutSeconds: value.idleTimeoutSeconds ?? this.#defaults.idleTimeoutSeconds,
      maxLifetimeSeconds: value.maxLifetimeSeconds ?? this.#defaults.maxLifetimeSeconds,
    };
    if (value.description !== undefined) spec.description = value.description;
    if (value.secretEnv !== undefined && Object.keys(value.secretEnv).length > 0) spec.secretEnv = this.#secrets.seal(name, value.env, value.secretEnv);
    if (value.agentcore !== undefined) spec.agentcore = value.agentcore;
    if (value.limits !== undefined && Object.keys(value.limits).length > 0) spec.limits = value.limits;
    if (value.driver !== undefined) spec.driver = value.driver;
    if (value.network !== undefined && value.network.mode !== 'none') spec.network = value.network;
    if (value.authorizer?.type === 'jwt') checkDiscoveryUrl(name, value.authorizer.discoveryUrl, this.#defaults.outbound ?? STRICT_OUTBOUND);
    if (value.authorizer !== undefined && value.authorizer.type !== 'none') spec.authorizer = value.authorizer;
    if (value.rateLimits !== undefined && (value.rateLimits.runtime || value.rateLimits.principal)) spec.rateLimits = value.rateLimits;
    if (value.sessionScope === 'principal') {
      if (spec.authorizer === undefined || spec.authorizer.type === 'sigv4') {
        throw new BerthError(
          'validation_failed',
          `runtime "${name}" was not deployed: sessionScope principal needs an authorizer that names its callers (apiKey or jwt); without one every caller is the same principal and all would share one session`,
          {
            details: { field: 'sessionScope' },
          },
        );
      }
      spec.sessionScope = 'principal';
    }
    if (value.sessionlessClients === 'stateless') spec.sessionlessClients = 'stateless';
    if (value.warmPool !== undefined && value.warmPool.size > 0) spec.warmPool = value.warmPool;
    if (value.warmup !== undefined) spec.warmup = value.warmup;
    const version = await this.#store.putVersion(name, spec);
    this.#forgetResolved();
    if (spec.authorizer === undefined) this.#defaults.onOpenVersion?.(name);
    for (const listener of this.#deployedListeners) listener(version);
    return version;
  }

  /** Hears every new version, once it is stored. */
  onDeployed(listener: (version: VersionRecord) => void): void {
    this.#deployedListeners.push(listener);
  }

  /** Hears every runtime deleted through this node (its keys went with it). */
  onDeleted(listener: (name: string) => void): void {
    this.#deletedListeners.push(listener);
  }

  /** A runtime by its id (`name-XXXXXXXXXX`), as AgentCore's API names runtimes. */
  async getById(id: string): Promise<RuntimeRecord> {
    const runtime = await this.#store.getRuntimeById(id);
    if (!runtime) throw new BerthError('runtime_not_found', `no runtime with id "${id}"`, { details: { runtime: id } });
    return runtime;
  }

  /** A runtime by its id or, failing that, its name: berth's own tools know runtimes by name. */
  async getByIdOrName(idOrName: string): Promise<RuntimeRecord> {
    const runtime = (await this.#store.getRuntimeById(idOrName)) ?? (await this.#store.getRuntime(idOrName));
    if (!runtime) throw new BerthError('runtime_not_found', `no runtime with id "${idOrName}"`, { details: { runtime: idOrName } });
    return runtime;
  }

  /** The runtime's endpoints, `DEFAULT` first: it always serves the latest version. `page` asks for one page of them. */
  async endpoints(name: string, page?: PageQuery<string>): Promise<EndpointRecord[]> {
    const runtime = await this.get(name);
    if (page === undefined) return [this.#defaultEndpoint(runtime), ...(await this.#store.listEndpoints(name))];
    // DEFAULT is never stored and comes before every stored endpoint: the page after it starts at the first of them.
    if (page.after === undefined)
      return [this.#defaultEndpoint(runtime), ...(page.limit > 1 ? await this.#store.listEndpoints(name, { limit: page.limit - 1 }) : [])];
    return this.#store.listEndpoints(name, page.after === DEFAULT_ENDPOINT ? { limit: page.limit } : page);
  }

  async endpoint(name: string, endpoint: string): Promise<EndpointRecord> {
    const runtime = await this.get(name);
    if (endpoint === DEFAULT_ENDPOINT) return this.#defaultEndpoint(runtime);
    const record = await this.#store.getEndpoint(name, endpoint);
    if (!record) {
      throw new BerthError('endpoint_not_found', `runtime "${name}" has no endpoint "${endpoint}"`, { details: { runtime: name, endpoint } });
    }
    return record;
  }

  /**
   * Creates a named endpoint (`create`) or moves one, pinned to `version` (the latest when not given). `DEFAULT`
   * is not created or moved: it follows the latest version by definition.
   */
  async putEndpoint(name: string, endpoint: string, options: { version?: number; description?: string; create: boolean }): Promise<EndpointRecord> {
    const runtime = await this.get(name);
    if (endpoint === DEFAULT_ENDPOINT) {
      throw new BerthError('validation_failed', `endpoint ${DEFAULT_ENDPOINT} always serves the latest version; create a named endpoint to pin one`);
    }
    if (!ENDPOINT_NAME.test(endpoint)) {
      throw new BerthError('validation_failed', `endpoint name "${endpoint}" is not valid: use 1 to 48 letters, digits or "_", starting with a letter`);
    }
    const existing = await this.#store.getEndpoint(name, endpoint);
    if (options.create && existing) throw new BerthError('conflict', `runtime "${name}" already has an endpoint "${endpoint}"`);
    if (!options.create && !existing) throw new BerthError('endpoint_not_found', `runtime "${name}" has no endpoint "${endpoint}"`);
    const version = options.version ?? runtime.latestVersion;
    await this.version(name, version);
    const record = await this.#store.putEndpoint(name, endpoint, version, options.description);
    this.#forgetResolved();
    return record;
  }

  async deleteEndpoint(name: string, endpoint: string): Promise<void> {
    await this.get(name);
    if (endpoint === DEFAULT_ENDPOINT) throw new BerthError('validation_failed', `endpoint ${DEFAULT_ENDPOINT} goes only with its runtime`);
    if (!(await this.#store.deleteEndpoint(name, endpoint))) {
      throw new BerthError('endpoint_not_found', `runtime "${name}" has no endpoint "${endpoint}"`, { details: { runtime: name, endpoint } });
    }
    this.#forgetResolved();
  }

  #defaultEndpoint(runtime: RuntimeRecord): EndpointRecord {
    return {
      runtime: runtime.name,
      name: DEFAULT_ENDPOINT,
      id: `${DEFAULT_ENDPOINT}-${runtime.id.slice(-10)}`,
      targetVersion: runtime.latestVersion,
      createdAt: runtime.createdAt,
      updatedAt: runtime.updatedAt,
    };
  }

  /** Runtimes by name; `page` asks for one page of them. */
  list(page?: PageQuery<string>): Promise<RuntimeRecord[]> {
    return this.#store.listRuntimes(page);
  }

  async exists(name: string): Promise<boolean> {
    return (await this.#store.getRuntime(name)) !== undefined;
  }

  async get(name: string): Promise<RuntimeRecord> {
    const runtime = await this.#store.getRuntime(name);
    if (!runtime)
      throw new BerthError('runtime_not_found', `no runtime named "${name}"; berth runtimes lists the deployed ones`, { details: { runtime: name } });
    return runtime;
  }

  /** The runtime's versions, oldest first unless `page` asks for one page newest first. */
  async versions(name: string, page?: VersionPageQuery): Promise<VersionRecord[]> {
    await this.get(name);
    return this.#store.listVersions(name, page);
  }

  async version(name: string, version: number): Promise<VersionRecord> {
    const record = await this.#store.getVersion(name, version);
    if (!record) throw new BerthError('version_not_found', `runtime "${name}" has no version ${version}`);
    return record;
  }

  /** The version an endpoint of `name` points at, and what a new session of it runs. */
  async resolve(name: string, endpoint = DEFAULT_ENDPOINT): Promise<ResolvedRuntime> {
    const key = `${name}\0${endpoint}`;
    const cached = this.#resolved.get(key);
    if (cached) return cached;
    const generation = this.#generation;
    const ownChanges = this.#ownChanges;
    let resolved: ResolvedRuntime;
    try {
      const runtime = await this.get(name);
      const version = await this.version(name, (await this.endpoint(name, endpoint)).targetVersion);
      // On a node of a cluster, the code of a version deployed through another node is fetched here the first time.
      await this.#artifacts.ensure(version.spec.artifactId);
      resolved = { runtime, version, target: this.#targetFor(runtime, version) };
    } catch (error) {
      // The cluster's store away just after another node changed something: what this node last knew still serves.
      const known = this.#dropped.get(key);
      if (known && error instanceof BerthError && error.code === 'store_unavailable') return known;
      throw error;
    }
    // A change stored while this was read may have made it stale: it answers this call, but is not kept. Read
    // across another node's change, it is still what this node last knew, should the store go away before the next
    // read (a node's first request racing the change that deployed what it asks for).
    if (generation === this.#generation) {
      this.#resolved.set(key, resolved);
      this.#dropped.delete(key);
    } else if (ownChanges === this.#ownChanges) this.#dropped.set(key, resolved);
    return resolved;
  }

  /**
   * Drops the resolutions this node kept: the control plane changed through another node of the cluster. Each is
   * read again when next needed, and serves only if the store does not answer then.
   */
  forgetKept(): void {
    for (const [key, resolved] of this.#resolved) this.#dropped.set(key, resolved);
    this.#generation++;
    this.#resolved.clear();
  }

  /** A change made through this node: what was kept is wrong now, and none of it serves again. */
  #forgetResolved(): void {
    this.#generation++;
    this.#ownChanges++;
    this.#resolved.clear();
    this.#dropped.clear();
  }

  /** A resolution this node keeps, if it has one: what a warm call needs, without a wait. */
  resolved(name: string, endpoint = DEFAULT_ENDPOINT): ResolvedRuntime | undefined {
    return this.#resolved.get(`${name}\0${endpoint}`);
  }

  /** As `resolve`, but undefined when the runtime or the endpoint does not exist. */
  async find(name: string, endpoint = DEFAULT_ENDPOINT): Promise<ResolvedRuntime | undefined> {
    try {
      return await this.resolve(name, endpoint);
    } catch (error) {
      if (error instanceof BerthError && (error.code === 'runtime_not_found' || error.code === 'endpoint_not_found' || error.code === 'version_not_found'))
        return undefined;
      throw error;
    }
  }

  #targetFor(runtime: RuntimeRecord, version: VersionRecord): SessionTarget {
    const spec = version.spec;
    // Opened here and nowhere else: what a session's sandbox is started with.
    const secrets = spec.secretEnv ? this.#secrets.open(runtime.name, spec.secretEnv) : undefined;
    return sessionTarget(version, { artifactDir: this.#artifacts.path(spec.artifactId), secrets }, this.#defaults);
  }

  /** Deletes the runtime, first ending its live sessions. */
  async delete(name: string): Promise<void> {
    await this.get(name);
    this.#forgetResolved();
    await Promise.all(this.#sessions.list({ runtime: name }).map((session) => this.#sessions.stop(session.id)));
    await this.#store.deleteRuntime(name);
    this.#forgetResolved();
    for (const listener of this.#deletedListeners) listener(name);
  }
}
