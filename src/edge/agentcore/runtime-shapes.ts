import * as z from 'zod';
import { BerthError } from '../../core/errors.ts';
import { parseInput } from '../../control/validation.ts';
import type { EndpointRecord, RuntimeRecord, VersionRecord } from '../../store/store.ts';
import { endpointArn, runtimeArn, workloadIdentityArn, type AwsIdentity } from './arn.ts';

/**
 * AgentCore's runtime shapes and how they map onto berth's: a `codeConfiguration` whose `code.s3` names berth's own
 * artifact store (`{bucket: "berth", prefix: ARTIFACT_ID}`), run as `node ENTRYPOINT` on berth's Node; the
 * protocol picks the container contract (MCP on 8000 `/mcp`, HTTP and AGUI on 8080 `/invocations`, A2A on 9000 `/`); environment and
 * lifecycle map field for field. Everything else AgentCore accepts is kept and shown back as it was given.
 */

export const ARTIFACT_BUCKET = 'berth';

const RUNTIME_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,47}$/;

const CodeConfiguration = z.object({
  code: z.object({ s3: z.object({ bucket: z.string(), prefix: z.string(), versionId: z.string().optional() }).loose() }).loose(),
  runtime: z.string(),
  entryPoint: z.array(z.string().min(1).max(128)).min(1).max(2),
});

const Lifecycle = z.object({
  idleRuntimeSessionTimeout: z.number().int().min(60).max(28_800).optional(),
  maxLifetime: z.number().int().min(60).max(1_209_600).optional(),
});

const ClaimMatch = z.object({
  inboundTokenClaimName: z.string(),
  inboundTokenClaimValueType: z.enum(['STRING', 'STRING_ARRAY']),
  authorizingClaimMatchValue: z.object({
    claimMatchValue: z.object({ matchValueString: z.string().optional(), matchValueStringList: z.array(z.string()).optional() }),
    claimMatchOperator: z.enum(['EQUALS', 'CONTAINS', 'CONTAINS_ANY']),
  }),
});

/** AgentCore's customJWTAuthorizer, the parts berth runs; the rest is refused by name below. */
const CustomJwtAuthorizer = z
  .object({
    discoveryUrl: z.string(),
    allowedAudience: z.array(z.string()).optional(),
    allowedClients: z.array(z.string()).optional(),
    allowedScopes: z.array(z.string()).optional(),
    customClaims: z.array(ClaimMatch).optional(),
  })
  .loose();

/** The members CreateAgentRuntime and UpdateAgentRuntime share. */
const RuntimeInput = z
  .object({
    agentRuntimeArtifact: z.record(z.string(), z.unknown()),
    roleArn: z.string().max(2048).optional(),
    networkConfiguration: z
      .object({ networkMode: z.enum(['PUBLIC', 'VPC']) })
      .loose()
      .optional(),
    description: z.string().min(1).max(4096).optional(),
    authorizerConfiguration: z.record(z.string(), z.unknown()).optional(),
    requestHeaderConfiguration: z.record(z.string(), z.unknown()).optional(),
    protocolConfiguration: z.object({ serverProtocol: z.string() }).loose().optional(),
    lifecycleConfiguration: Lifecycle.optional(),
    environmentVariables: z.record(z.string().min(1).max(100), z.string().max(5000)).optional(),
    filesystemConfigurations: z.array(z.unknown()).max(5).optional(),
    metadataConfiguration: z.record(z.string(), z.unknown()).optional(),
    platformVersion: z.string().optional(),
    hooksConfiguration: z.record(z.string(), z.unknown()).optional(),
    clientToken: z.string().optional(),
  })
  .loose();

export const CreateRuntimeInput = RuntimeInput.extend({ agentRuntimeName: z.string(), tags: z.record(z.string(), z.string()).optional() });
export const UpdateRuntimeInput = RuntimeInput;
export type RuntimeInputValue = z.infer<typeof RuntimeInput>;

/** Members berth keeps only to show back, beside what it runs. */
const KEPT = [
  'roleArn',
  'networkConfiguration',
  'requestHeaderConfiguration',
  'metadataConfiguration',
  'platformVersion',
  'agentRuntimeArtifact',
  'protocolConfiguration',
  'authorizerConfiguration',
  'hooksConfiguration',
];

export function checkAgentRuntimeName(name: string): void {
  if (!RUNTIME_NAME.test(name)) {
    throw new BerthError('validation_failed', `agentRuntimeName "${name}" is not valid: 1 to 48 letters, digits or "_", starting with a letter`, {
      details: { issues: [`agentRuntimeName: must match ${RUNTIME_NAME.source}`] },
    });
  }
}

/** What berth's native deploy takes for an AgentCore runtime description (see RuntimeService.deploy). */
export function deployInputOf(input: RuntimeInputValue): Record<string, unknown> {
  const code = codeOf(input.agentRuntimeArtifact);
  if (input.filesystemConfigurations && input.filesystemConfigurations.length > 0) {
    throw new BerthError(
      'validation_failed',
      'filesystemConfigurations are not supported: a berth session keeps its files in its private workspace (HOME) for its life',
    );
  }
  const protocol = input.protocolConfiguration?.serverProtocol ?? 'HTTP';
  const contract = CONTRACTS[protocol];
  if (!contract) throw new BerthError('validation_failed', `serverProtocol ${protocol} is not supported: berth runs MCP, HTTP, A2A and AGUI runtimes`);
  const agentcore: Record<string, unknown> = {};
  for (const key of KEPT) if ((input as Record<string, unknown>)[key] !== undefined) agentcore[key] = (input as Record<string, unknown>)[key];
  const deploy: Record<string, unknown> = {
    artifactId: code.artifactId,
    command: ['node', ...code.entryPoint].map(shellQuote).join(' '),
    ...contract,
    env: input.environmentVariables ?? {},
    ...lifecycleOf(input.lifecycleConfiguration),
    agentcore,
  };
  if (input.description !== undefined) deploy.description = input.description;
  deploy.authorizer = authorizerOf(input.authorizerConfiguration);
  const warmup = warmupOf(input.hooksConfiguration);
  if (warmup) deploy.warmup = warmup;
  return deploy;
}

/** `hooksConfiguration`: one hook phase (build) with one hook (warmup) and one action (httpPost). */
const HooksConfiguration = z.strictObject({
  build: z
    .strictObject({
      warmup: z
        .strictObject({
          action: z.strictObject({
            httpPost: z.strictObject({ path: z.string().min(1).max(256), port: z.number().int().min(1).max(65535).optional() }),
          }),
        })
        .optional(),
    })
    .optional(),
});

/** The warmup hook as berth's `warmup`: it runs in each of the runtime's sandboxes before the sandbox takes a session. */
function warmupOf(configuration: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (configuration === undefined) return undefined;
  const hooks = parseInput(HooksConfiguration, configuration, 'hooksConfiguration is not valid: berth runs build.warmup with an httpPost action');
  const post = hooks.build?.warmup?.action.httpPost;
  if (!post) return undefined;
  return { path: post.path, ...(post.port !== undefined ? { port: post.port } : {}) };
}

/**
 * `authorizerConfiguration` as berth's jwt authorizer: allowedScopes (one of them), customClaims as claim rules.
 * Absent or empty, the runtime takes only SigV4, as on AgentCore, on berth's own routes too.
 */
function authorizerOf(configuration: Record<string, unknown> | undefined): Record<string, unknown> {
  if (configuration === undefined || Object.keys(configuration).length === 0) return { type: 'sigv4' };
  const kinds = Object.keys(configuration);
  if (kinds.length !== 1 || kinds[0] !== 'customJWTAuthorizer') {
    throw new BerthError('validation_failed', `authorizerConfiguration must set exactly customJWTAuthorizer, got ${kinds.join(', ')}`);
  }
  const { discoveryUrl, allowedAudience, allowedClients, allowedScopes, customClaims, ...rest } = parseInput(
    CustomJwtAuthorizer,
    configuration.customJWTAuthorizer,
    'customJWTAuthorizer is not valid',
  );
  const unsupported = Object.keys(rest);
  if (unsupported.length > 0) {
    throw new BerthError(
      'validation_failed',
      `customJWTAuthorizer.${unsupported.join(', ')} ${unsupported.length > 1 ? 'are' : 'is'} not supported: berth reaches the issuer directly and advertises the scopes it checks`,
    );
  }
  const authorizer: Record<string, unknown> = { type: 'jwt', discoveryUrl };
  if (allowedAudience !== undefined) authorizer.allowedAudience = allowedAudience;
  if (allowedClients !== undefined) authorizer.allowedClients = allowedClients;
  if (allowedScopes !== undefined) authorizer.allowedScopes = allowedScopes;
  if (customClaims !== undefined) authorizer.requiredClaims = customClaims.map(claimRuleOf);
  return authorizer;
}

const OPERATORS = { EQUALS: 'equals', CONTAINS: 'contains', CONTAINS_ANY: 'containsAny' } as const;

function claimRuleOf(claim: z.infer<typeof ClaimMatch>): Record<string, unknown> {
  const { claimMatchValue, claimMatchOperator } = claim.authorizingClaimMatchValue;
  const value = claimMatchValue.matchValueStringList ?? claimMatchValue.matchValueString;
  if (value === undefined)
    throw new BerthError('validation_failed', `customClaims: the rule for ${claim.inboundTokenClaimName} needs matchValueString or matchValueStringList`);
  return { claim: claim.inboundTokenClaimName, operator: OPERATORS[claimMatchOperator], value };
}

const CONTRACTS: Record<string, Record<string, unknown>> = {
  MCP: { protocol: 'mcp', transport: 'http', port: 8000, path: '/mcp' },
  HTTP: { protocol: 'http', transport: 'http', port: 8080, path: '/invocations' },
  A2A: { protocol: 'a2a', transport: 'http', port: 9000, path: '/' },
  AGUI: { protocol: 'agui', transport: 'http', port: 8080, path: '/invocations' },
};
/** The serverProtocol of each of berth's protocols, for a runtime made through berth's own API. */
const SERVER_PROTOCOLS = { mcp: 'MCP', http: 'HTTP', a2a: 'A2A', agui: 'AGUI' } as const;

function codeOf(artifact: Record<string, unknown>): { artifactId: string; entryPoint: string[] } {
  const kinds = Object.keys(artifact);
  if (kinds.length !== 1)
    throw new BerthError('validation_failed', 'agentRuntimeArtifact must set exactly one of codeConfiguration and containerConfiguration');
  if (kinds[0] === 'containerConfiguration') {
    throw new BerthError(
      'validation_failed',
      `berth runs code, not container images: use agentRuntimeArtifact.codeConfiguration with code.s3 = {bucket: "${ARTIFACT_BUCKET}", prefix: ARTIFACT_ID} (berth push DIR prints the id), runtime NODE_22 and entryPoint [FILE]`,
    );
  }
  const parsed = CodeConfiguration.safeParse(artifact.codeConfiguration);
  if (!parsed.success)
    throw new BerthError(
      'validation_failed',
      `codeConfiguration needs code.s3 {bucket, prefix}, runtime and entryPoint (1 or 2 items): ${parsed.error.issues[0]?.message ?? ''}`,
    );
  const { code, runtime, entryPoint } = parsed.data;
  if (code.s3.bucket !== ARTIFACT_BUCKET) {
    throw new BerthError(
      'validation_failed',
      `code.s3.bucket must be "${ARTIFACT_BUCKET}": berth runs code from its own artifact store, and code.s3.prefix names the artifact (berth push DIR prints its id)`,
    );
  }
  if (runtime !== 'NODE_22') throw new BerthError('validation_failed', `runtime ${runtime} is not supported: berth runs NODE_22 code on its own Node`);
  for (const entry of entryPoint) {
    if (entry.startsWith('/') || entry.split('/').includes('..'))
      throw new BerthError('validation_failed', `entryPoint "${entry}" must be a path inside the artifact`);
  }
  return { artifactId: code.s3.prefix.replace(/\/+$/, ''), entryPoint };
}

/** AgentCore's defaults: none given is 900/28 800; only maxLifetime given makes idle 900, or the lifetime if that is less. */
function lifecycleOf(lifecycle: z.infer<typeof Lifecycle> | undefined): { idleTimeoutSeconds: number; maxLifetimeSeconds: number } {
  const max = lifecycle?.maxLifetime ?? 28_800;
  const idle = lifecycle?.idleRuntimeSessionTimeout ?? Math.min(900, max);
  if (idle > max) throw new BerthError('validation_failed', 'lifecycleConfiguration.idleRuntimeSessionTimeout must not exceed maxLifetime');
  return { idleTimeoutSeconds: idle, maxLifetimeSeconds: max };
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** GetAgentRuntime's answer for one version. */
export function runtimeView(identity: AwsIdentity, runtime: RuntimeRecord, version: VersionRecord): Record<string, unknown> {
  const { spec } = version;
  const kept = spec.agentcore ?? {};
  const view: Record<string, unknown> = {
    agentRuntimeArn: runtimeArn(identity, runtime.id),
    agentRuntimeName: runtime.name,
    agentRuntimeId: runtime.id,
    agentRuntimeVersion: String(version.version),
    createdAt: runtime.createdAt,
    lastUpdatedAt: version.createdAt,
    roleArn: kept.roleArn ?? `arn:aws:iam::${identity.accountId}:role/berth`,
    status: 'READY',
    lifecycleConfiguration: { idleRuntimeSessionTimeout: spec.idleTimeoutSeconds, maxLifetime: spec.maxLifetimeSeconds },
    networkConfiguration: kept.networkConfiguration ?? { networkMode: 'PUBLIC' },
    workloadIdentityDetails: { workloadIdentityArn: workloadIdentityArn(identity, runtime.id) },
    agentRuntimeArtifact: kept.agentRuntimeArtifact ?? {
      codeConfiguration: { code: { s3: { bucket: ARTIFACT_BUCKET, prefix: spec.artifactId } }, runtime: 'NODE_22', entryPoint: [spec.command] },
    },
    protocolConfiguration: kept.protocolConfiguration ?? { serverProtocol: SERVER_PROTOCOLS[spec.protocol] },
    environmentVariables: spec.env,
  };
  if (spec.description !== undefined) view.description = spec.description;
  for (const key of ['requestHeaderConfiguration', 'metadataConfiguration', 'platformVersion', 'authorizerConfiguration', 'hooksConfiguration'])
    if (kept[key] !== undefined) view[key] = kept[key];
  return view;
}

/** One line of ListAgentRuntimes or ListAgentRuntimeVersions. */
export function runtimeSummary(identity: AwsIdentity, runtime: RuntimeRecord, version: VersionRecord): Record<string, unknown> {
  return {
    agentRuntimeArn: runtimeArn(identity, runtime.id),
    agentRuntimeId: runtime.id,
    agentRuntimeVersion: String(version.version),
    agentRuntimeName: runtime.name,
    description: version.spec.description ?? '',
    lastUpdatedAt: version.createdAt,
    status: 'READY',
  };
}

export function endpointView(identity: AwsIdentity, runtime: RuntimeRecord, endpoint: EndpointRecord): Record<string, unknown> {
  const view: Record<string, unknown> = {
    agentRuntimeEndpointArn: endpointArn(identity, runtime.id, endpoint.name),
    agentRuntimeArn: runtimeArn(identity, runtime.id),
    status: 'READY',
    createdAt: endpoint.createdAt,
    lastUpdatedAt: endpoint.updatedAt,
    name: endpoint.name,
    id: endpoint.id,
    liveVersion: String(endpoint.targetVersion),
    targetVersion: String(endpoint.targetVersion),
  };
  if (endpoint.description !== undefined) view.description = endpoint.description;
  return view;
}
