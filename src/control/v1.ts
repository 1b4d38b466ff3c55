import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import * as z from 'zod';
import { BerthError } from '../core/errors.ts';
import { jsonResponse, readJsonObject } from '../core/http.ts';
import type { WebRoute } from '../core/router.ts';
import type { NodeDirectory } from '../cluster/nodes.ts';
import type { ClusterPage, SessionsQuery } from '../cluster/cluster-sessions.ts';
import type { EndedRecords } from '../sessions/ended-records.ts';
import type { WarmPools } from '../sessions/warm-pool.ts';
import type { SessionInfo, SessionManager } from '../sessions/manager.ts';
import type { RuntimeRecord, VersionRecord } from '../store/store.ts';
import type { RuntimeService } from './runtimes.ts';
import { publicSpec } from './secret-env.ts';
import type { ApiKeyService } from './api-keys.ts';
import type { NpmInstaller } from '../store/npm-install.ts';
import { clientSignal } from '../core/client-signal.ts';
import { parseInput } from './validation.ts';
import { API_KEY_KEYS, ENDPOINT_KEYS, NODE_KEYS, pageOfList, readPage, RUNTIME_KEYS, SESSION_KEYS, VERSION_KEYS, type Page } from './pages.ts';

export interface V1Options {
  runtimes: RuntimeService;
  apiKeys: ApiKeyService;
  sessions: SessionManager;
  maxArtifactBytes: number;
  /** Installs published servers from npm into artifacts (`POST /v1/artifacts` with a JSON body). */
  npm: NpmInstaller;
  /** The nodes of this node's cluster, or this node alone. */
  nodes: NodeDirectory;
  /** This node's URL as sessions name their holder: its advertised URL in a cluster, else where it listens. */
  nodeUrl: () => string;
  /** The node's warm pools, shown with their runtimes. */
  warmPools?: Pick<WarmPools, 'describe'>;
  /** The ended sessions' records in the store; unset, only what this node remembers of its own. */
  endedRecords?: EndedRecords;
  /** On a node of a cluster: one page of every live node's sessions; unset, this node's own are the list. */
  listSessions?: (query: SessionsQuery) => Promise<ClusterPage<SessionView>>;
}

/** A live session as `/v1` shows it: with the URL of the node that holds it. */
export type SessionView = SessionInfo & { node: string };

/** `POST /v1/artifacts` with a JSON body: a published package to install from npm, not an upload. */
const NpmArtifactInput = z.strictObject({
  npm: z.string().min(1).max(512),
  bin: z.string().min(1).max(214).optional(),
  args: z.array(z.string().max(4096)).max(256).default([]),
});

/**
 * berth's native control-plane API under `/v1`; the CLI uses only this. Every list answers one page (`?limit=` items,
 * 100 unless asked, at most 1000) under its own field, with `next`, the token of the following page (`?next=`), when
 * more remain.
 */
export function v1Routes({ runtimes, apiKeys, sessions, maxArtifactBytes, npm, nodes, nodeUrl, listSessions, endedRecords, warmPools }: V1Options): WebRoute[] {
  const runtimeView = async (runtime: RuntimeRecord, liveSessions = sessions.list({ runtime: runtime.name }).length): Promise<Record<string, unknown>> => {
    const latest = await runtimes.version(runtime.name, runtime.latestVersion);
    // This node's pool of the runtime's current version, if it keeps one.
    const warmPool = warmPools?.describe(runtime.name);
    return {
      name: runtime.name,
      id: runtime.id,
      latestVersion: runtime.latestVersion,
      createdAt: runtime.createdAt,
      updatedAt: runtime.updatedAt,
      spec: publicSpec(latest.spec),
      liveSessions,
      ...(warmPool ? { warmPool } : {}),
    };
  };
  const versionView = (version: VersionRecord): Record<string, unknown> => ({ ...version, spec: publicSpec(version.spec) });

  return [
    {
      method: 'POST',
      pattern: '/v1/artifacts',
      handler: async (request) => {
        if ((request.headers.get('content-type') ?? '').includes('application/json')) return npmArtifact(request, npm);
        if (!request.body) throw new BerthError('validation_failed', 'send the code directory as a tar archive (gzip allowed) in the request body');
        const record = await runtimes.uploadArtifact(Readable.fromWeb(request.body as NodeReadableStream), maxArtifactBytes);
        return jsonResponse(201, { artifactId: record.id, bytes: record.bytes, files: record.files, createdAt: record.createdAt });
      },
    },
    {
      method: 'GET',
      pattern: '/v1/runtimes',
      handler: async (_r, _p, url) => {
        const page = await readPage(url, RUNTIME_KEYS, (query) => runtimes.list(query));
        // Live sessions counted once for the page, not once per runtime.
        const live = new Map<string, number>();
        for (const session of sessions.list()) live.set(session.runtime, (live.get(session.runtime) ?? 0) + 1);
        return pageResponse('runtimes', page, (runtime) => runtimeView(runtime, live.get(runtime.name) ?? 0));
      },
    },
    { method: 'GET', pattern: '/v1/runtimes/:name', handler: async (_r, { name }) => jsonResponse(200, await runtimeView(await runtimes.get(name as string))) },
    {
      method: 'PUT',
      pattern: '/v1/runtimes/:name',
      handler: async (request, { name }) => {
        const version = await runtimes.deploy(name as string, await readJsonObject(request));
        return jsonResponse(version.version === 1 ? 201 : 200, versionView(version));
      },
    },
    {
      method: 'DELETE',
      pattern: '/v1/runtimes/:name',
      handler: async (_r, { name }) => {
        await runtimes.delete(name as string);
        return jsonResponse(200, { deleted: name });
      },
    },
    {
      method: 'GET',
      pattern: '/v1/runtimes/:name/versions',
      handler: async (_r, { name }, url) =>
        pageResponse('versions', await readPage(url, VERSION_KEYS, (query) => runtimes.versions(name as string, query)), versionView),
    },
    {
      method: 'GET',
      pattern: '/v1/runtimes/:name/endpoints',
      handler: async (_r, { name }, url) =>
        pageResponse('endpoints', await readPage(url, ENDPOINT_KEYS, (query) => runtimes.endpoints(name as string, query)), (endpoint) => endpoint),
    },
    {
      method: 'PUT',
      pattern: '/v1/runtimes/:name/endpoints/:endpoint',
      handler: async (request, { name, endpoint }) => {
        const body = await readJsonObject(request);
        const version = body.version;
        const description = body.description;
        if (version !== undefined && (typeof version !== 'number' || !Number.isInteger(version) || version < 1)) {
          throw new BerthError('validation_failed', 'version must be a version number of the runtime');
        }
        if (description !== undefined && (typeof description !== 'string' || description.length > 256)) {
          throw new BerthError('validation_failed', 'description must be a string of at most 256 characters');
        }
        const exists = (await runtimes.endpoints(name as string)).some((e) => e.name === endpoint);
        const options = { create: !exists, ...(version === undefined ? {} : { version }), ...(description === undefined ? {} : { description }) };
        return jsonResponse(exists ? 200 : 201, await runtimes.putEndpoint(name as string, endpoint as string, options));
      },
    },
    {
      method: 'DELETE',
      pattern: '/v1/runtimes/:name/endpoints/:endpoint',
      handler: async (_r, { name, endpoint }) => {
        await runtimes.deleteEndpoint(name as string, endpoint as string);
        return jsonResponse(200, { deleted: endpoint });
      },
    },
    {
      method: 'POST',
      pattern: '/v1/keys',
      handler: async (request) => {
        const { key, view } = await apiKeys.create(await readJsonObject(request));
        return jsonResponse(201, { ...view, key });
      },
    },
    {
      method: 'GET',
      pattern: '/v1/keys',
      handler: async (_r, _p, url) => {
        const runtime = url.searchParams.get('runtime') ?? undefined;
        return pageResponse('keys', await readPage(url, API_KEY_KEYS, (query) => apiKeys.list(runtime === undefined ? {} : { runtime }, query)), (key) => key);
      },
    },
    { method: 'DELETE', pattern: '/v1/keys/:id', handler: async (_r, { id }) => jsonResponse(200, await apiKeys.revoke(id as string)) },
    {
      method: 'GET',
      pattern: '/v1/nodes',
      handler: async (_r, _p, url) => {
        const all = await nodes.list();
        return pageResponse('nodes', await readPage(url, NODE_KEYS, (query) => pageOfList(all, NODE_KEYS.keyOf, query)), (node) => node);
      },
    },
    {
      method: 'GET',
      pattern: '/v1/sessions',
      handler: async (_r, _p, url) => {
        const runtime = url.searchParams.get('runtime') ?? undefined;
        const filter = runtime === undefined ? {} : { runtime };
        let unreachable: ClusterPage<SessionView>['unreachable'] = [];
        const page = await readPage(url, SESSION_KEYS, async (query): Promise<SessionView[]> => {
          if (!listSessions) return pageOfList(sessions.list(filter), SESSION_KEYS.keyOf, query).map((session) => ({ ...session, node: nodeUrl() }));
          const listed = await listSessions({ ...filter, ...query });
          unreachable = listed.unreachable;
          return listed.items;
        });
        // Live nodes that did not answer are named: their sessions are missing from this page, not ended.
        return jsonResponse(200, {
          sessions: page.items,
          ...(page.next === undefined ? {} : { next: page.next }),
          ...(unreachable.length > 0 ? { unreachable } : {}),
        });
      },
    },
    {
      method: 'GET',
      pattern: '/v1/sessions/:id',
      handler: async (_r, { id }) => {
        const live = sessions.get(id as string);
        if (live) return jsonResponse(200, { ...live, node: nodeUrl() });
        // The store has the last end of the session wherever it was held; this node's memory, if the store is away.
        const ended = (await endedRecords?.find(id as string).catch(() => undefined)) ?? sessions.ended(id as string);
        if (ended) return jsonResponse(200, { ...ended, state: 'ended' });
        throw new BerthError('session_not_found', `no session ${id}`);
      },
    },
    {
      method: 'GET',
      pattern: '/v1/sessions/:id/logs',
      handler: (_r, { id }, url) => {
        const logs = sessions.logs(id as string);
        if (!logs) throw new BerthError('session_not_found', `no logs for session ${id}: it is not live and did not end recently`);
        const tail = url.searchParams.get('tail');
        if (tail !== null && !/^\d{1,9}$/.test(tail)) throw new BerthError('validation_failed', 'tail must be a whole number of lines');
        const lines = tail === null ? logs.lines : logs.lines.slice(Math.max(0, logs.lines.length - Number(tail)));
        return jsonResponse(200, { session: id, live: logs.live, dropped: logs.dropped, lines });
      },
    },
    {
      method: 'DELETE',
      pattern: '/v1/sessions/:id',
      handler: async (_r, { id }) => {
        if (!(await sessions.stop(id as string))) throw new BerthError('session_not_found', `no live session ${id}`);
        return jsonResponse(200, { stopped: id });
      },
    },
  ];
}

/**
 * A published package installed by npm on this node into a new artifact, answered as an upload is, with the
 * package installed and the command that starts its bin (the request's `args` appended, each quoted for /bin/sh).
 */
async function npmArtifact(request: Request, npm: NpmInstaller): Promise<Response> {
  const input = parseInput(NpmArtifactInput, await readJsonObject(request), 'no package was installed');
  const installed = await npm.install({ spec: input.npm, args: input.args, ...(input.bin === undefined ? {} : { bin: input.bin }) }, clientSignal(request));
  const { artifact } = installed;
  return jsonResponse(201, {
    artifactId: artifact.id,
    bytes: artifact.bytes,
    files: artifact.files,
    createdAt: artifact.createdAt,
    package: installed.package,
    command: installed.command,
  });
}

/** A page of a list as `/v1` answers it: the items under the list's own field, and `next` only when more remain. */
async function pageResponse<T>(field: string, page: Page<T>, view: (item: T) => unknown): Promise<Response> {
  return jsonResponse(200, { [field]: await Promise.all(page.items.map(view)), ...(page.next === undefined ? {} : { next: page.next }) });
}
