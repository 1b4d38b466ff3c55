/**
 * Persistence ports. The control plane and the session manager see only these interfaces; SQLite (embedded, the
 * default) and PostgreSQL (a cluster) implement them with the same migrations and the same answers.
 */

/** How one runtime version runs; immutable once stored. */
/** A runtime's sandbox limits; one not given is the node's default. */
export interface RuntimeLimits {
  memoryMb?: number;
  pids?: number;
  cpus?: number;
  workspaceMb?: number;
  openFiles?: number;
}

export interface RuntimeSpec {
  artifactId: string;
  command: string;
  /** How the server speaks MCP: over stdin/stdout, or HTTP on `port` and `path` inside the sandbox. */
  transport: 'stdio' | 'http';
  port: number;
  path: string;
  /** `mcp`: an MCP server behind `/mcp`; `http`: an agent behind `/invocations` (AgentCore's contract). */
  protocol: 'mcp' | 'http';
  /** The MCP revision the server speaks: `modern` (2026-07-28), `legacy` (2025-11-25 and earlier), or `auto`. */
  serverEra: 'auto' | 'modern' | 'legacy';
  env: Record<string, string>;
  idleTimeoutSeconds: number;
  maxLifetimeSeconds: number;
  description?: string;
  /** This runtime's own sandbox limits, each in place of the node's default. */
  limits?: RuntimeLimits;
  /** The isolating driver this runtime's sandboxes need, in place of the node's default. */
  driver?: 'bwrap' | 'gvisor';
  /** What its sandboxes may reach: unset is `none`; `egress` lists host names and ranges; `host` is unfiltered. */
  network?: { mode: 'none' } | { mode: 'egress'; allow: string[] } | { mode: 'host' };
  /** Who may call the runtime's data plane; unset is `none` (anyone who reaches berth). */
  authorizer?: Authorizer;
  /** How the AgentCore-compatible API described this version, shown back by it; berth runs the fields above. */
  agentcore?: Record<string, unknown>;
}

/**
 * A runtime's inbound authorizer. `jwt` is AgentCore's customJWTAuthorizer: tokens from the issuer that
 * `discoveryUrl` (an OpenID configuration) names, signed with a key from its JWKS, for one of `allowedAudience`,
 * from one of `allowedClients` (`client_id`, else `azp`), holding every `requiredScopes` scope and meeting every
 * `requiredClaims` rule. Each list, when absent, checks nothing.
 */
export type Authorizer =
  | { type: 'none' }
  | {
      type: 'jwt';
      discoveryUrl: string;
      allowedAudience?: string[];
      allowedClients?: string[];
      requiredScopes?: string[];
      requiredClaims?: ClaimRule[];
    };

/** One claim a token must carry: equal to a string, or (for a list claim) containing one value or any of several. */
export interface ClaimRule {
  claim: string;
  operator: 'equals' | 'contains' | 'containsAny';
  value: string | string[];
}

export interface RuntimeRecord {
  /** Stable id in AgentCore's format: the name, a dash, ten random characters. */
  id: string;
  name: string;
  latestVersion: number;
  createdAt: string;
  updatedAt: string;
}

export interface VersionRecord {
  runtime: string;
  version: number;
  spec: RuntimeSpec;
  createdAt: string;
}

/**
 * A named endpoint of a runtime, pinned to one version until it is moved. `DEFAULT` is implicit and never stored:
 * it always follows the latest version.
 */
export interface EndpointRecord {
  runtime: string;
  name: string;
  /** Stable id in AgentCore's format, like a runtime's. */
  id: string;
  targetVersion: number;
  description?: string;
  createdAt: string;
  updatedAt: string;
}

export interface ArtifactRecord {
  id: string;
  bytes: number;
  files: number;
  createdAt: string;
}

export interface Store {
  /** Stores `spec` as the next version of runtime `name`, creating the runtime at version 1. Atomic. */
  putVersion(name: string, spec: RuntimeSpec): VersionRecord;
  getRuntime(name: string): RuntimeRecord | undefined;
  listRuntimes(): RuntimeRecord[];
  getVersion(name: string, version: number): VersionRecord | undefined;
  listVersions(name: string): VersionRecord[];
  /** Deletes the runtime, its versions and its endpoints; false when there was none. */
  deleteRuntime(name: string): boolean;
  getRuntimeById(id: string): RuntimeRecord | undefined;
  /** Creates or moves an endpoint; `description` undefined keeps the stored one. */
  putEndpoint(runtime: string, name: string, targetVersion: number, description?: string): EndpointRecord;
  getEndpoint(runtime: string, name: string): EndpointRecord | undefined;
  listEndpoints(runtime: string): EndpointRecord[];
  deleteEndpoint(runtime: string, name: string): boolean;
  putArtifact(record: ArtifactRecord): void;
  getArtifact(id: string): ArtifactRecord | undefined;
  close(): void;
}
