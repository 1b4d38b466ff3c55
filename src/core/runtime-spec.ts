/**
 * The runtime model: what `PUT /v1/runtimes/{name}` accepts (`DeployInput`, a zod schema that is the one check of a
 * deploy's body) and the types derived from it that the store keeps, so what is validated and what is stored cannot
 * drift apart. It sits in core because every layer speaks it: the store keeps it, the control plane validates it,
 * the sandbox is started from it, the edge admits by it, and the CLI's API client (cli/api-client.ts) sends it.
 */
import * as z from 'zod';
import { parseEntry } from './allowlist.ts';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** No string a sandbox is started with may hold NUL: the kernel cuts arguments and variables there. */
const NO_NUL = { message: 'must not contain NUL characters' };

/** A path the server answers HTTP requests on inside its sandbox. */
const RequestPath = z.string().regex(/^\/[\x21-\x7e]{0,255}$/, 'must start with "/" and hold only visible ASCII');

/** A token bucket: `perSecond` sustained, up to `burst` at once (default: one second's worth). */
const RateLimitInput = z.strictObject({ perSecond: z.number().min(0.001).max(1_000_000), burst: z.number().int().min(1).max(1_000_000).optional() });

const Scopes = z
  .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,255}$/, 'a scope is visible ASCII without spaces, quotes or backslashes'))
  .min(1)
  .max(50);

const Environment = z
  .record(
    z.string().regex(ENV_NAME, 'environment variable names are letters, digits and "_", not starting with a digit'),
    z
      .string()
      .max(32 * 1024)
      .refine((v) => !v.includes('\0'), NO_NUL),
  )
  .refine((env) => Object.keys(env).length <= 200, 'at most 200 environment variables')
  // The sandbox's launcher reads its own instructions from these and unsets them before the server starts.
  .refine((env) => !Object.keys(env).some((name) => name.startsWith('BERTH_LAUNCH_')), "names starting with BERTH_LAUNCH_ are berth's own")
  .refine((env) => Object.entries(env).reduce((sum, [k, v]) => sum + k.length + v.length, 0) <= 256 * 1024, 'at most 256 KiB of environment in all');

/** One claim a token must carry: equal to a string, or (for a list claim) containing one value or any of several. */
const ClaimRuleInput = z
  .strictObject({
    claim: z.string().regex(/^[A-Za-z0-9_.:-]{1,255}$/, 'a claim name is letters, digits and _ . : -'),
    operator: z.enum(['equals', 'contains', 'containsAny']),
    value: z.union([z.string().min(1).max(255), z.array(z.string().min(1).max(255)).min(1).max(50)]),
  })
  .refine((rule) => (rule.operator === 'containsAny') === Array.isArray(rule.value), 'containsAny takes a list of values; equals and contains take one');

/**
 * A runtime's inbound authorizer. `jwt` is AgentCore's customJWTAuthorizer: tokens from the issuer that
 * `discoveryUrl` (an OpenID configuration) names, signed with a key from its JWKS, for one of `allowedAudience`,
 * from one of `allowedClients` (`client_id`, else `azp`), holding every `requiredScopes` scope and at least one
 * `allowedScopes` scope (AgentCore's own field), and meeting every `requiredClaims` rule. Each list, when absent,
 * checks nothing. `apiKey`: bearer API keys berth issued for this runtime (`POST /v1/keys`), each naming the user it
 * stands for. `sigv4`: only requests signed with berth's AWS keys, AgentCore's IAM inbound auth.
 */
const AuthorizerInput = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('apiKey') }),
  z.strictObject({ type: z.literal('sigv4') }),
  z.strictObject({
    type: z.literal('jwt'),
    discoveryUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .refine((url) => new URL(url).pathname.endsWith('/.well-known/openid-configuration'), 'must end with /.well-known/openid-configuration'),
    allowedAudience: z.array(z.string().min(1).max(255)).min(1).max(50).optional(),
    allowedClients: z.array(z.string().min(1).max(255)).min(1).max(50).optional(),
    requiredScopes: Scopes.optional(),
    allowedScopes: Scopes.optional(),
    requiredClaims: z.array(ClaimRuleInput).max(20).optional(),
  }),
]);

/** A runtime's sandbox limits; one not given is the node's default. */
const LimitsInput = z
  .strictObject({
    memoryMb: z
      .number()
      .int()
      .min(16)
      .max(1024 * 1024),
    pids: z.number().int().min(8).max(1_000_000),
    cpus: z.number().min(0.01).max(1024),
    workspaceMb: z
      .number()
      .int()
      .min(1)
      .max(1024 * 1024),
    openFiles: z.number().int().min(64).max(1_048_576),
  })
  .partial();

/** What its sandboxes may reach: `none`; `egress`, the host names and ranges it lists; `host`, unfiltered. */
const NetworkInput = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({
    mode: z.literal('egress'),
    allow: z.array(z.string().superRefine(allowEntry)).max(256, 'at most 256 entries'),
  }),
  z.strictObject({ mode: z.literal('host') }),
]);

/** What `PUT /v1/runtimes/{name}` accepts; every field but `artifactId` and `command` has AgentCore's default. */
export const DeployInput = z.strictObject({
  artifactId: z.string().regex(/^art_[a-z2-7]+$/, 'must be an artifact id from POST /v1/artifacts'),
  command: z
    .string()
    .trim()
    .min(1, 'must name the program that starts the server')
    .max(4096)
    .refine((v) => !v.includes('\0'), NO_NUL),
  /** How the server speaks MCP: over stdin/stdout, or HTTP on `port` and `path` inside the sandbox. */
  transport: z.enum(['stdio', 'http']).default('http'),
  port: z.number().int().min(1).max(65535).default(8000),
  path: RequestPath.default('/mcp'),
  /**
   * `mcp`: an MCP server behind `/mcp`; `http`: an agent behind `/invocations` and `/ws` (AgentCore's HTTP contract);
   * `a2a`: an A2A agent, JSON-RPC at `/` and its card at `/.well-known/agent-card.json`; `agui`: an AG-UI agent,
   * served as an http agent is.
   */
  protocol: z.enum(['mcp', 'http', 'a2a', 'agui']).default('mcp'),
  /** The MCP revision the server speaks: `modern` (2026-07-28), `legacy` (2025-11-25 and earlier), or `auto`. */
  serverEra: z.enum(['auto', 'modern', 'legacy']).default('auto'),
  env: Environment.default({}),
  /**
   * Variables whose values are secrets: never shown back, set only inside the runtime's sandboxes. A stored spec
   * holds each value sealed (AES-256-GCM under berth's secret key) for this runtime and name.
   */
  secretEnv: Environment.optional(),
  idleTimeoutSeconds: z.number().int().min(1).max(28_800).optional(),
  maxLifetimeSeconds: z.number().int().min(1).max(1_209_600).optional(),
  description: z.string().max(4096).optional(),
  /** Sandbox limits of this runtime's sessions, each in place of the node's default. */
  limits: LimitsInput.optional(),
  /** What the runtime's sandboxes may reach beyond their own loopback; unset is `none`. */
  network: NetworkInput.optional(),
  /** Who may call the runtime's data plane; unset is `none` (anyone who reaches berth). */
  authorizer: AuthorizerInput.optional(),
  /** Requests a second the runtime takes, from all callers together and from each one; past them, 429. */
  rateLimits: z.strictObject({ runtime: RateLimitInput.optional(), principal: RateLimitInput.optional() }).optional(),
  /** `principal`: each authenticated caller has one session, found without a session id; `session` (default): none. */
  sessionScope: z.enum(['session', 'principal']).optional(),
  /** What a 2026-07-28 client naming no session hears from server/discover: `stateful` (default) steers it to initialize. */
  sessionlessClients: z.enum(['stateful', 'stateless']).optional(),
  /** The isolating driver this runtime's sandboxes need (`gvisor` for a user-space kernel); unset, the node's default. */
  driver: z.enum(['bwrap', 'gvisor']).optional(),
  /**
   * A `POST` to `path` (on `port`, by default the server's) that each sandbox's server must answer 2xx, within
   * 120 s, before the sandbox takes its session: pooled ones before they count as ready (AgentCore's
   * `hooksConfiguration.build.warmup`).
   */
  warmup: z
    .strictObject({
      path: RequestPath,
      port: z.number().int().min(1).max(65535).optional(),
    })
    .optional(),
  /** Sandboxes of the current version each node keeps started and ready, so a new session starts at once. */
  warmPool: z.strictObject({ size: z.number().int().min(0).max(1000) }).optional(),
  /** How the AgentCore-compatible API described this version (role, artifact, protocol…), kept to be shown back. */
  agentcore: z
    .record(z.string(), z.unknown())
    .refine((value) => JSON.stringify(value).length <= 64 * 1024, 'at most 64 KiB')
    .optional(),
});

function allowEntry(entry: string, context: z.RefinementCtx): void {
  try {
    parseEntry(entry);
  } catch (error) {
    context.addIssue({ code: 'custom', message: (error as Error).message });
  }
}

/** A deploy's body once validated, defaults filled in. */
export type DeployInput = z.infer<typeof DeployInput>;
/** The body of `PUT /v1/runtimes/{name}` as a client writes it, defaults left out. */
export type DeployRequest = z.input<typeof DeployInput>;
export type RateLimit = z.infer<typeof RateLimitInput>;
export type RuntimeRateLimits = NonNullable<DeployInput['rateLimits']>;
export type Authorizer = z.infer<typeof AuthorizerInput>;
export type ClaimRule = z.infer<typeof ClaimRuleInput>;
export type RuntimeLimits = z.infer<typeof LimitsInput>;

/**
 * How one runtime version runs; immutable once stored. It is the deploy's input as the runtime service settles it:
 * the node's timeouts filled in, secrets sealed, and a choice that is the default (`sessionScope: session`,
 * `sessionlessClients: stateful`) left out, so a spec names only what differs.
 */
export type RuntimeSpec = Omit<DeployInput, 'idleTimeoutSeconds' | 'maxLifetimeSeconds' | 'sessionScope' | 'sessionlessClients'> & {
  idleTimeoutSeconds: number;
  maxLifetimeSeconds: number;
  /**
   * `principal`: a request that names no session goes to its principal's own session of this runtime (one each),
   * not a new one. Unset, every such request starts a session. Needs an authorizer.
   */
  sessionScope?: 'principal';
  /**
   * What a 2026-07-28 client that names no session is told when it asks `server/discover`. Unset (`stateful`): that
   * berth needs a session (400, -32000), so the client opens one with `initialize` and keeps its state under the
   * `Mcp-Session-Id` every client echoes. `stateless`: the server's own answer, for runtimes whose tools keep no
   * state (each request that names no session then gets a fresh one).
   */
  sessionlessClients?: 'stateless';
};

/**
 * Who may call a version: its authorizer, or, for one AgentCore's API made before berth stored a `sigv4`
 * authorizer for it, SigV4 alone, as AgentCore's runtimes without an authorizerConfiguration take.
 */
export function authorizerOf(spec: RuntimeSpec): Authorizer | undefined {
  return spec.authorizer ?? (spec.agentcore !== undefined ? { type: 'sigv4' } : undefined);
}
