/**
 * Translation between the stateful revisions (2025-11-25 and earlier, "legacy") and 2026-07-28 ("modern"): pure
 * functions over message shapes, used by the supervisor's bridge (modern client → legacy server) and the edge's
 * legacy facade (legacy client → any server).
 */
import {
  LEGACY_VERSIONS,
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_LOG_LEVEL,
  META_PROTOCOL_VERSION,
  META_SERVER_INFO,
  MODERN_VERSION,
} from './classify.ts';
import { RPC } from '../core/rpc-codes.ts';

export const BERTH_CLIENT_INFO = { name: 'berth', version: '0.1.0' };

/**
 * What berth tells a legacy server it can do, at `initialize`: everything it can relay to some modern client. Each
 * call then checks the capabilities its own client declared, and refuses (-32021) what that client cannot do. berth
 * tells the server when the roots it holds are no longer its clients' (`notifications/roots/list_changed`).
 */
export const BRIDGE_CLIENT_CAPABILITIES = {
  elicitation: { form: {}, url: {} },
  sampling: {},
  roots: { listChanged: true },
};

export interface InitializeResult {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  serverInfo: { name: string; version: string; [key: string]: unknown };
  instructions?: string;
  [key: string]: unknown;
}

/** Results that 2026-07-28 requires to carry cache hints (SEP-2549). */
const CACHEABLE = new Set(['server/discover', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);

/** The `_meta` keys 2026-07-28 puts on every request, which a legacy server has no use for. */
const MODERN_META_KEYS = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL];

/** A modern request's params for a legacy server: the per-request envelope and MRTR fields removed. */
export function toLegacyParams(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (params === undefined) return undefined;
  const { _meta, inputResponses: _inputs, requestState: _state, ...rest } = params;
  if (typeof _meta !== 'object' || _meta === null) return rest;
  const meta = { ..._meta } as Record<string, unknown>;
  for (const key of MODERN_META_KEYS) delete meta[key];
  return Object.keys(meta).length === 0 ? rest : { ...rest, _meta: meta };
}

/** A legacy server's result as a 2026-07-28 result: `resultType`, cache hints where required, and server identity. */
export function toModernResult(method: string, result: Record<string, unknown>, serverInfo: InitializeResult['serverInfo']): Record<string, unknown> {
  const out: Record<string, unknown> = { ...result };
  if (out.resultType === undefined) out.resultType = 'complete';
  if (CACHEABLE.has(method)) {
    // A legacy server's lists may differ per session: cache only within this caller's context, and revalidate.
    if (out.ttlMs === undefined) out.ttlMs = 0;
    if (out.cacheScope === undefined) out.cacheScope = 'private';
  }
  const meta = (typeof out._meta === 'object' && out._meta !== null ? out._meta : {}) as Record<string, unknown>;
  if (meta[META_SERVER_INFO] === undefined) out._meta = { ...meta, [META_SERVER_INFO]: serverInfo };
  return out;
}

/** A legacy error as 2026-07-28 states it: "resource not found" moved from -32002 to -32602 (SEP-2164). */
export function toModernError(error: { code: number; message: string; data?: unknown }): { code: number; message: string; data?: unknown } {
  return error.code === RPC.LEGACY_RESOURCE_NOT_FOUND ? { ...error, code: RPC.INVALID_PARAMS } : error;
}

/** `server/discover` for a legacy server, from what it said at `initialize`. */
export function discoverFromInitialize(init: InitializeResult): Record<string, unknown> {
  const result: Record<string, unknown> = {
    resultType: 'complete',
    supportedVersions: [MODERN_VERSION],
    capabilities: init.capabilities,
    _meta: { [META_SERVER_INFO]: init.serverInfo },
    ttlMs: 0,
    cacheScope: 'private',
  };
  if (init.instructions !== undefined) result.instructions = init.instructions;
  return result;
}

/** An `initialize` result for a legacy client, from a modern server's `server/discover`. */
export function initializeFromDiscover(discover: Record<string, unknown>, requestedVersion: unknown): InitializeResult {
  const meta = (discover._meta ?? {}) as Record<string, unknown>;
  const serverInfo = (meta[META_SERVER_INFO] as InitializeResult['serverInfo'] | undefined) ?? { name: 'berth-runtime', version: '0.0.0' };
  const result: InitializeResult = {
    protocolVersion: negotiateLegacyVersion(requestedVersion),
    capabilities: (discover.capabilities as Record<string, unknown> | undefined) ?? {},
    serverInfo,
  };
  if (typeof discover.instructions === 'string') result.instructions = discover.instructions;
  return result;
}

/** The version a legacy server answers `initialize` with: the client's, when berth speaks it, else the newest. */
export function negotiateLegacyVersion(requested: unknown): string {
  return typeof requested === 'string' && (LEGACY_VERSIONS as readonly string[]).includes(requested) ? requested : LEGACY_VERSIONS[0];
}

const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** Whether a log message at `level` reaches a request that asked for `wanted` and above. */
export function logLevelPasses(level: unknown, wanted: string): boolean {
  const at = LOG_LEVELS.indexOf(String(level));
  const from = LOG_LEVELS.indexOf(wanted);
  return at === -1 || from === -1 || at >= from;
}

export function moreVerbose(a: string | undefined, b: string): string {
  if (a === undefined) return b;
  return LOG_LEVELS.indexOf(b) < LOG_LEVELS.indexOf(a) ? b : a;
}

/**
 * Which client capability a server-to-client request needs, as a `requiredCapabilities` object for -32021, or
 * undefined when the client declared it.
 */
export function missingCapability(
  method: string,
  params: Record<string, unknown> | undefined,
  declared: Record<string, unknown>,
): Record<string, unknown> | undefined {
  switch (method) {
    case 'elicitation/create': {
      const mode = params?.mode === 'url' ? 'url' : 'form';
      const elicitation = declared.elicitation as Record<string, unknown> | undefined;
      // `elicitation: {}` means form mode (2025-11-25 and 2026-07-28 agree).
      const ok =
        elicitation !== undefined &&
        (mode === 'form' ? elicitation.form !== undefined || Object.keys(elicitation).length === 0 : elicitation.url !== undefined);
      return ok ? undefined : { elicitation: { [mode]: {} } };
    }
    case 'sampling/createMessage':
      return declared.sampling !== undefined ? undefined : { sampling: {} };
    case 'roots/list':
      return declared.roots !== undefined ? undefined : { roots: {} };
    default:
      return { [method]: {} };
  }
}
