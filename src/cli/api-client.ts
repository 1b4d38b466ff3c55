import { Readable } from 'node:stream';
import type { NodeView } from '../core/node-view.ts';
import type { ApiKeyView } from '../core/api-key-view.ts';
import type { DeployRequest } from '../core/runtime-spec.ts';
import type { RuntimeView } from '../core/runtime-view.ts';

/** An error answer from berth's API (or no answer), with a message fit to print. */
export class ApiError extends Error {
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(message: string, status?: number, code?: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export type { RuntimeView } from '../core/runtime-view.ts';

export interface SessionView {
  id: string;
  runtime: string;
  version: number;
  state: string;
  /** The user id of the principal the session belongs to. */
  principal: string;
  createdAt: string;
  lastActiveAt: string;
  sandboxId: string;
  pid?: number;
  memoryBytes?: number;
  inFlight?: number;
  waitingForInput?: number;
  /** The node holding it: its advertised URL in a cluster, else where it listens. */
  node: string;
}

/** `GET /v1/sessions/{id}/logs`. */
export interface SessionLogs {
  session: string;
  live: boolean;
  /** Older lines dropped to keep within the node's bound. */
  dropped: number;
  lines: Array<{ at: string; line: string }>;
}

/** A key as `/v1/keys` shows it; `key` only in the answer that made it. */
export type KeyView = ApiKeyView & { key?: string };

/** A package the node installed from npm: its artifact, and the command that starts its bin with the given args. */
export interface InstalledPackage {
  artifactId: string;
  package: { name: string; version: string; bin: string };
  command: string;
}

/** The most items a `/v1` list page holds: the CLI takes every item, in as few requests as it can. */
const PAGE_LIMIT = 1000;

/** The typed client of berth's `/v1` API that the CLI and the tests use; runtimes are typed by the runtime model. */
export class ApiClient {
  readonly #base: string;
  readonly #adminKey: string | undefined;

  /** `adminKey` opens the control API; without one, berth answers 401. */
  constructor(base: string, adminKey?: string) {
    this.#base = base.replace(/\/+$/, '');
    this.#adminKey = adminKey;
  }

  async uploadArtifact(body: Readable): Promise<{ artifactId: string }> {
    return this.#call('POST', '/v1/artifacts', {
      body: Readable.toWeb(body) as ReadableStream<Uint8Array>,
      duplex: 'half',
      headers: { 'content-type': 'application/gzip' },
    } as RequestInit);
  }

  /** Has the node install a published package from npm into a new artifact (`POST /v1/artifacts`, JSON). */
  installPackage(body: { npm: string; args: readonly string[]; bin?: string }): Promise<InstalledPackage> {
    return this.#call('POST', '/v1/artifacts', { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  }

  /** `PUT /v1/runtimes/{name}`: its body typed from the one schema the node validates it with (core/runtime-spec.ts). */
  deploy(name: string, body: DeployRequest): Promise<{ runtime: string; version: number }> {
    return this.#call('PUT', `/v1/runtimes/${encodeURIComponent(name)}`, {
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
  }

  runtime(name: string): Promise<RuntimeView> {
    return this.#call('GET', `/v1/runtimes/${encodeURIComponent(name)}`);
  }

  runtimes(): Promise<RuntimeView[]> {
    return this.#all<RuntimeView>('/v1/runtimes', 'runtimes');
  }

  sessions(runtime?: string): Promise<SessionView[]> {
    return this.#all<SessionView>('/v1/sessions', 'sessions', runtime === undefined ? {} : { runtime });
  }

  nodes(): Promise<NodeView[]> {
    return this.#all<NodeView>('/v1/nodes', 'nodes');
  }

  session(id: string): Promise<SessionView> {
    return this.#call('GET', `/v1/sessions/${encodeURIComponent(id)}`);
  }

  /** The base URL and admin key this client calls with, for what is not a `/v1` request (a shell's WebSocket). */
  get endpoint(): { url: string; key: string | undefined } {
    return { url: this.#base, key: this.#adminKey };
  }

  sessionLogs(id: string, tail?: number): Promise<SessionLogs> {
    const query = tail === undefined ? '' : `?tail=${tail}`;
    return this.#call('GET', `/v1/sessions/${encodeURIComponent(id)}/logs${query}`);
  }

  async stopSession(id: string): Promise<void> {
    await this.#call('DELETE', `/v1/sessions/${encodeURIComponent(id)}`);
  }

  createKey(body: { admin?: boolean; runtime?: string; user?: string; description?: string }): Promise<KeyView & { key: string }> {
    return this.#call('POST', '/v1/keys', { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  }

  keys(runtime?: string): Promise<KeyView[]> {
    return this.#all<KeyView>('/v1/keys', 'keys', runtime === undefined ? {} : { runtime });
  }

  revokeKey(id: string): Promise<KeyView> {
    return this.#call('DELETE', `/v1/keys/${encodeURIComponent(id)}`);
  }

  /** Every item of a `/v1` list, page after page (the largest pages berth gives) until no `next` is left. */
  async #all<T>(path: string, field: string, filter: Record<string, string> = {}): Promise<T[]> {
    const items: T[] = [];
    const seen = new Set<string>();
    let next: string | undefined;
    do {
      const query = new URLSearchParams({ ...filter, limit: String(PAGE_LIMIT), ...(next === undefined ? {} : { next }) });
      const page = await this.#call<Record<string, unknown>>('GET', `${path}?${query}`);
      const got = page[field];
      if (!Array.isArray(got)) throw new ApiError(`berth at ${this.#base} answered GET ${path} without a "${field}" list`);
      items.push(...(got as T[]));
      next = typeof page.next === 'string' ? page.next : undefined;
      // A node that hands back a token it gave before would have this loop forever.
      if (next !== undefined && seen.has(next)) throw new ApiError(`berth at ${this.#base} answered GET ${path} with a page it had already given`);
      if (next !== undefined) seen.add(next);
    } while (next !== undefined);
    return items;
  }

  async #call<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    let response: Response;
    const headers = new Headers(init.headers);
    if (this.#adminKey !== undefined) headers.set('authorization', `Bearer ${this.#adminKey}`);
    try {
      response = await fetch(`${this.#base}${path}`, { ...init, method, headers });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ApiError(`cannot reach berth at ${this.#base} (${cause}); is \`berth serve\` running there? (--url or BERTH_URL picks another)`);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new ApiError(`berth at ${this.#base} answered ${response.status} with a body that is not JSON`, response.status);
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: string; message?: string } }).error;
      throw new ApiError(error?.message ?? `berth answered ${response.status}`, response.status, error?.code);
    }
    return body as T;
  }
}
