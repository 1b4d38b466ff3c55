import { BerthError, isBerthError } from '../../core/errors.ts';
import { notJson } from '../../core/http.ts';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../../mcp/jsonrpc.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Params, WebRoute } from '../../core/router.ts';
import { DEFAULT_ENDPOINT, type RuntimeService } from '../../control/runtimes.ts';
import type { RuntimeRecord, VersionRecord } from '../../store/store.ts';
import { endpointArn, runtimeArn, workloadIdentityArn, type AwsIdentity } from './arn.ts';
import { readVerified, type AwsAuth } from './auth.ts';
import { parseInput } from '../../control/validation.ts';
import { ENDPOINT_KEYS, NEWEST_VERSION_KEYS, readPage, RUNTIME_KEYS, type PageParameters } from '../../control/pages.ts';
import { awsErrorResponse } from './errors.ts';
import { IdempotencyCache } from './idempotency.ts';
import { checkAgentRuntimeName, CreateRuntimeInput, deployInputOf, endpointView, runtimeSummary, runtimeView, UpdateRuntimeInput } from './runtime-shapes.ts';

const MAX_CONTROL_BODY = 1024 * 1024;
/** AgentCore's list APIs: `maxResults` (up to 100) and `nextToken` in the query. */
const AGENTCORE_PAGES: PageParameters = { limit: 'maxResults', next: 'nextToken', defaultLimit: 100, maxLimit: 100 };

export interface ControlPlaneOptions {
  runtimes: RuntimeService;
  identity: AwsIdentity;
  auth: AwsAuth;
  logger: Logger;
}

type AwsHandler = (body: Record<string, unknown>, params: Params, url: URL) => Promise<{ status: number; body: unknown }> | { status: number; body: unknown };

/**
 * AgentCore Runtime's control plane (`bedrock-agentcore-control`, restJson1) over berth's runtime service: runtimes
 * and their immutable versions, and endpoints. Deploying is immediate, so a runtime answers `CREATING` once and is
 * `READY` from then on. Paths carry AgentCore's trailing slashes, which berth's router ignores.
 */
export function controlPlaneRoutes({ runtimes, identity, auth, logger }: ControlPlaneOptions): WebRoute[] {
  const tokens = new IdempotencyCache();
  const route = (method: string, pattern: string, handler: AwsHandler): WebRoute => ({
    method,
    pattern,
    handler: async (request, params, url) => {
      try {
        const raw = await readVerified(request, url, auth, MAX_CONTROL_BODY);
        const body = raw.length === 0 ? {} : parseJson(raw);
        const answer = await handler(body, params, url);
        return new Response(JSON.stringify(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } });
      } catch (error) {
        // An error that is not berth's own answers InternalServerException, whose message sends the caller to the logs.
        if (!isBerthError(error)) logger.error('request failed', { method: request.method, path: url.pathname, err: error });
        return awsErrorResponse(error);
      }
    },
  });
  const byId = (params: Params): Promise<RuntimeRecord> => runtimes.getByIdOrName(params.runtimeId as string);

  return [
    route('PUT', '/runtimes', (body) =>
      tokens.run('CreateAgentRuntime', body.clientToken, body, async () => {
        const input = parseInput(CreateRuntimeInput, body, 'the request is not valid');
        checkAgentRuntimeName(input.agentRuntimeName);
        if (await runtimes.exists(input.agentRuntimeName)) {
          throw new BerthError('conflict', `an agent runtime named ${input.agentRuntimeName} already exists; update it, or delete it first`);
        }
        const deploy = deployInputOf(input);
        if (input.tags !== undefined) (deploy.agentcore as Record<string, unknown>).tags = input.tags;
        const version = await deployFrom(runtimes, input.agentRuntimeName, deploy);
        const runtime = await runtimes.get(input.agentRuntimeName);
        return { status: 202, body: { ...created(identity, runtime, version.version), createdAt: runtime.createdAt, status: 'CREATING' } };
      }),
    ),
    route('POST', '/runtimes', async (_body, _p, url) => {
      const page = await readPage(url, RUNTIME_KEYS, (query) => runtimes.list(query), AGENTCORE_PAGES);
      const items = await Promise.all(
        page.items.map(async (runtime) => runtimeSummary(identity, runtime, await runtimes.version(runtime.name, runtime.latestVersion))),
      );
      return { status: 200, body: { agentRuntimes: items, ...nextTokenOf(page.next) } };
    }),
    route('GET', '/runtimes/:runtimeId', async (_body, params, url) => {
      const runtime = await byId(params);
      const asked = url.searchParams.get('version');
      const version = await runtimes.version(runtime.name, asked === null ? runtime.latestVersion : versionNumber(asked));
      return { status: 200, body: runtimeView(identity, runtime, version) };
    }),
    route('PUT', '/runtimes/:runtimeId', (body, params) =>
      tokens.run('UpdateAgentRuntime', body.clientToken, { body, params }, async () => {
        const runtime = await byId(params);
        const input = parseInput(UpdateRuntimeInput, body, 'the request is not valid');
        const deploy = deployInputOf(input);
        const previous = (await runtimes.version(runtime.name, runtime.latestVersion)).spec.agentcore?.tags;
        if (previous !== undefined) (deploy.agentcore as Record<string, unknown>).tags = previous;
        const version = await deployFrom(runtimes, runtime.name, deploy);
        const updated = await runtimes.get(runtime.name);
        return {
          status: 202,
          body: { ...created(identity, updated, version.version), createdAt: updated.createdAt, lastUpdatedAt: version.createdAt, status: 'UPDATING' },
        };
      }),
    ),
    route('DELETE', '/runtimes/:runtimeId', (_body, params, url) =>
      tokens.run('DeleteAgentRuntime', url.searchParams.get('clientToken'), params, async () => {
        const runtime = await byId(params);
        if (url.searchParams.get('version') !== null) {
          throw new BerthError(
            'validation_failed',
            'berth deletes whole agent runtimes, not single versions: omit version (versions are immutable and cheap to keep)',
          );
        }
        await runtimes.delete(runtime.name);
        return { status: 202, body: { status: 'DELETING', agentRuntimeId: runtime.id, agentRuntimeVersion: String(runtime.latestVersion) } };
      }),
    ),
    route('POST', '/runtimes/:runtimeId/versions', async (_body, params, url) => {
      const runtime = await byId(params);
      const page = await readPage(url, NEWEST_VERSION_KEYS, (query) => runtimes.versions(runtime.name, { ...query, newestFirst: true }), AGENTCORE_PAGES);
      const items = page.items.map((version) => runtimeSummary(identity, runtime, version));
      return { status: 200, body: { agentRuntimes: items, ...nextTokenOf(page.next) } };
    }),
    route('PUT', '/runtimes/:runtimeId/runtime-endpoints', (body, params) =>
      tokens.run('CreateAgentRuntimeEndpoint', body.clientToken, { body, params }, async () => {
        const runtime = await byId(params);
        const name = typeof body.name === 'string' ? body.name : '';
        const endpoint = await runtimes.putEndpoint(runtime.name, name, { create: true, ...endpointChanges(body) });
        return {
          status: 202,
          body: {
            targetVersion: String(endpoint.targetVersion),
            agentRuntimeEndpointArn: endpointArn(identity, runtime.id, endpoint.name),
            agentRuntimeArn: runtimeArn(identity, runtime.id),
            agentRuntimeId: runtime.id,
            endpointName: endpoint.name,
            status: 'CREATING',
            createdAt: endpoint.createdAt,
          },
        };
      }),
    ),
    route('POST', '/runtimes/:runtimeId/runtime-endpoints', async (_body, params, url) => {
      const runtime = await byId(params);
      const page = await readPage(url, ENDPOINT_KEYS, (query) => runtimes.endpoints(runtime.name, query), AGENTCORE_PAGES);
      const items = page.items.map((endpoint) => endpointView(identity, runtime, endpoint));
      return { status: 200, body: { runtimeEndpoints: items, ...nextTokenOf(page.next) } };
    }),
    route('GET', '/runtimes/:runtimeId/runtime-endpoints/:endpointName', async (_body, params) => {
      const runtime = await byId(params);
      return { status: 200, body: endpointView(identity, runtime, await runtimes.endpoint(runtime.name, params.endpointName as string)) };
    }),
    route('PUT', '/runtimes/:runtimeId/runtime-endpoints/:endpointName', (body, params) =>
      tokens.run('UpdateAgentRuntimeEndpoint', body.clientToken, { body, params }, async () => {
        const runtime = await byId(params);
        const endpoint = await runtimes.putEndpoint(runtime.name, params.endpointName as string, { create: false, ...endpointChanges(body) });
        const view = endpointView(identity, runtime, endpoint);
        return { status: 202, body: { ...view, status: 'UPDATING' } };
      }),
    ),
    route('DELETE', '/runtimes/:runtimeId/runtime-endpoints/:endpointName', (_body, params, url) =>
      tokens.run('DeleteAgentRuntimeEndpoint', url.searchParams.get('clientToken'), params, async () => {
        const runtime = await byId(params);
        const name = params.endpointName as string;
        if (name === DEFAULT_ENDPOINT) throw new BerthError('validation_failed', `endpoint ${DEFAULT_ENDPOINT} goes only with its runtime`);
        await runtimes.deleteEndpoint(runtime.name, name);
        return { status: 202, body: { status: 'DELETING', agentRuntimeId: runtime.id, endpointName: name } };
      }),
    ),
  ];
}

/** A missing artifact is a bad `code.s3` location, which AgentCore reports as a ValidationException. */
async function deployFrom(runtimes: RuntimeService, name: string, deploy: Record<string, unknown>): Promise<VersionRecord> {
  try {
    return await runtimes.deploy(name, deploy);
  } catch (error) {
    if (isBerthError(error) && error.code === 'artifact_not_found') {
      throw new BerthError(
        'validation_failed',
        `code.s3.prefix names no artifact in berth's store (${String(deploy.artifactId)}): upload the code with berth push DIR and use the id it prints`,
      );
    }
    throw error;
  }
}

function created(identity: AwsIdentity, runtime: RuntimeRecord, version: number): Record<string, unknown> {
  return {
    agentRuntimeArn: runtimeArn(identity, runtime.id),
    agentRuntimeId: runtime.id,
    agentRuntimeVersion: String(version),
    workloadIdentityDetails: { workloadIdentityArn: workloadIdentityArn(identity, runtime.id) },
  };
}

function endpointChanges(body: Record<string, unknown>): { version?: number; description?: string } {
  const changes: { version?: number; description?: string } = {};
  if (body.agentRuntimeVersion !== undefined) changes.version = versionNumber(body.agentRuntimeVersion);
  if (body.description !== undefined) {
    if (typeof body.description !== 'string' || body.description.length < 1 || body.description.length > 256) {
      throw new BerthError('validation_failed', 'description must be 1 to 256 characters');
    }
    changes.description = body.description;
  }
  return changes;
}

function versionNumber(value: unknown): number {
  const text = String(value);
  if (!/^[1-9][0-9]{0,4}$/.test(text)) throw new BerthError('validation_failed', `agentRuntimeVersion "${text}" is not a version number`);
  return Number(text);
}

function nextTokenOf(next: string | undefined): { nextToken?: string } {
  return next === undefined ? {} : { nextToken: next };
}

function parseJson(raw: Uint8Array): Record<string, unknown> {
  const text = new TextDecoder().decode(raw);
  // Refused before it is parsed: nothing in AgentCore's models nests a tenth as deep, and what walks a parsed body
  // recursively (JSON.stringify, for the digest a clientToken keeps) would overflow the stack on one that does.
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new BerthError(
      'validation_failed',
      `the request body nests more than ${MAX_JSON_DEPTH} levels deep; no AgentCore request needs that many, send a flatter one`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BerthError('parse_error', `the request body is ${notJson(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BerthError('validation_failed', 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}
