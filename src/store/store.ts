/**
 * Persistence ports. The control plane and the session manager see only these interfaces; SQLite (embedded, the
 * default) and PostgreSQL (a cluster) implement them with the same migrations and the same answers.
 */

import type { RuntimeSpec } from '../core/runtime-spec.ts';

// The runtime model is the deploy schema's: the store keeps what `DeployInput` validated, as the runtime service settled it.
export type { Authorizer, ClaimRule, RateLimit, RuntimeLimits, RuntimeRateLimits, RuntimeSpec } from '../core/runtime-spec.ts';

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

/**
 * An API key berth issued: an admin key for the control plane, or a key to one runtime's data plane standing for one
 * user. Only a hash of the key is kept; the key itself is shown once, when it is made.
 */
export interface ApiKeyRecord {
  /** Public id, part of the key itself, so a key is found by id and then checked against its hash. */
  id: string;
  /** SHA-256 of the whole key, hex. */
  hash: string;
  /** `admin`, or the runtime whose data plane the key opens. */
  scope: { kind: 'admin' } | { kind: 'runtime'; runtime: string };
  /** Who a runtime key stands for: its sessions are this user's, and the server is told this user id. */
  userId: string;
  description?: string;
  createdAt: string;
  revokedAt?: string;
}

/**
 * One page of a list, by keyset: the items whose keys come after `after` (the key of the previous page's last item)
 * in the list's order, at most `limit` (1 or more) of them. A store answers with a range query on the key, never by
 * skipping rows, so a late page costs what the first does and a page does not shift when earlier items go. Text keys
 * are ordered by code point, as SQLite's BINARY collation and PostgreSQL's "C" collation order them.
 */
export interface PageQuery<K> {
  after?: K;
  limit: number;
}

/** A page of versions: oldest first, or newest first (`after` then names a newer version than the page's). */
export interface VersionPageQuery extends PageQuery<number> {
  newestFirst?: boolean;
}

/** Where an API key sits in the list of keys, newest first: its creation time, then its id among keys made at once. */
export interface ApiKeyPosition {
  createdAt: string;
  id: string;
}

/** What is kept of a session that ended: the store reads its id, runtime and end; the rest is the record as shown. */
export interface EndedSessionRecord {
  id: string;
  runtime: string;
  endedAt: string;
  [field: string]: unknown;
}

/**
 * What berth keeps: the embedded SQLite of one node, or the PostgreSQL a cluster shares. Every method may reject
 * with `store_unavailable` when a cluster's store does not answer.
 */
export interface Store {
  /** Stores `spec` as the next version of runtime `name`, creating the runtime at version 1. Atomic, also against other nodes. */
  putVersion(name: string, spec: RuntimeSpec): Promise<VersionRecord>;
  getRuntime(name: string): Promise<RuntimeRecord | undefined>;
  /** Runtimes by name; `page` asks for one page of them. */
  listRuntimes(page?: PageQuery<string>): Promise<RuntimeRecord[]>;
  getVersion(name: string, version: number): Promise<VersionRecord | undefined>;
  /** The runtime's versions, oldest first unless `page` asks for one page newest first. */
  listVersions(name: string, page?: VersionPageQuery): Promise<VersionRecord[]>;
  /** Deletes the runtime, its versions, its endpoints and its keys; false when there was none. */
  deleteRuntime(name: string): Promise<boolean>;
  getRuntimeById(id: string): Promise<RuntimeRecord | undefined>;
  /** Creates or moves an endpoint; `description` undefined keeps the stored one. */
  putEndpoint(runtime: string, name: string, targetVersion: number, description?: string): Promise<EndpointRecord>;
  getEndpoint(runtime: string, name: string): Promise<EndpointRecord | undefined>;
  /** The runtime's stored endpoints by name; `page` asks for one page of them. */
  listEndpoints(runtime: string, page?: PageQuery<string>): Promise<EndpointRecord[]>;
  deleteEndpoint(runtime: string, name: string): Promise<boolean>;
  putArtifact(record: ArtifactRecord): Promise<void>;
  getArtifact(id: string): Promise<ArtifactRecord | undefined>;
  putApiKey(record: ApiKeyRecord): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** Keys newest first; `runtime` keeps that runtime's keys, `admin` the admin keys; `page` asks for one page of them. */
  listApiKeys(filter?: { runtime?: string; admin?: boolean }, page?: PageQuery<ApiKeyPosition>): Promise<ApiKeyRecord[]>;
  /** Marks a key revoked at `at`; false when there is no such key or it was already revoked. */
  revokeApiKey(id: string, at: string): Promise<boolean>;
  /** Keeps the record of a session that ended, in place of an earlier end of the same id (never of a later one). */
  putEndedSession(record: EndedSessionRecord): Promise<void>;
  getEndedSession(id: string): Promise<EndedSessionRecord | undefined>;
  /** Forgets the records of sessions that ended before `before`; answers how many. */
  pruneEndedSessions(before: string): Promise<number>;
  close(): Promise<void>;
}
