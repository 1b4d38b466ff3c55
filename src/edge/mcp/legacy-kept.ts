import { BerthError } from '../../core/errors.ts';

/**
 * What the legacy facade keeps for a client, checked as it comes in: each value bounded, each count capped per
 * session. A client that goes past a bound gets an error that says which, and what to do.
 */

/** berth's per-session caps on what the facade keeps for legacy clients (the `BERTH_SESSION_MAX_*` settings each names). */
export interface LegacyClientLimits {
  /** Resources a session's clients may subscribe to, all clients together (`BERTH_SESSION_MAX_SUBSCRIPTIONS`). */
  subscriptions: number;
  /** A session's requests waiting on their clients' answers at once (`BERTH_SESSION_MAX_PENDING_INPUT`). */
  pendingInputs: number;
  /** Clients (Mcp-Session-Ids) in one session (`BERTH_SESSION_MAX_LEGACY_CLIENTS`); past it, the oldest is forgotten. */
  legacyClients: number;
}

/**
 * The longest resource URI berth keeps for a client's subscription. Real URIs are far shorter; every one kept is
 * memory the client chose to spend, for the session's life.
 */
const MAX_URI_CHARS = 8 * 1024;
/** What berth keeps of the capabilities and clientInfo a client declares at `initialize`, as JSON, at most. */
const MAX_CLIENT_DECLARATION_CHARS = 64 * 1024;
/** The longest `logging/setLevel` level berth keeps; MCP's levels are words. */
const MAX_LOG_LEVEL_CHARS = 32;

const SETTINGS = {
  subscriptions: ['BERTH_SESSION_MAX_SUBSCRIPTIONS', 'resources subscribed'],
  pendingInputs: ['BERTH_SESSION_MAX_PENDING_INPUT', "requests waiting on their clients' answers"],
} as const;

/** Refuses one more of what a session keeps `count` of, at its cap, naming the setting that raises it. */
export function checkCap(limits: LegacyClientLimits, cap: keyof typeof SETTINGS, count: number): void {
  const max = limits[cap];
  if (count < max) return;
  const [setting, what] = SETTINGS[cap];
  throw new BerthError(
    'limit_exceeded',
    `this session would have more than ${max} ${what}, the most berth keeps for one session; end some first, or raise ${setting} on the berth node`,
  );
}

/** A subscription's URI as berth keeps it: a string of bounded length. */
export function uriOf(value: unknown): string {
  if (typeof value !== 'string') throw new BerthError('invalid_params', 'resources/subscribe and resources/unsubscribe take params.uri, a string');
  if (value.length > MAX_URI_CHARS)
    throw new BerthError('invalid_params', `a resource URI of ${value.length} characters is longer than the ${MAX_URI_CHARS} berth keeps`);
  return value;
}

export function logLevelOf(value: unknown): string {
  if (value === undefined) return 'info';
  if (typeof value !== 'string' || value.length > MAX_LOG_LEVEL_CHARS)
    throw new BerthError('invalid_params', 'logging/setLevel takes params.level, a level such as "info" or "debug"');
  return value;
}

/** What a client declares at `initialize`, as berth keeps it for the client's life and sends with each of its calls. */
export interface Declaration {
  capabilities: Record<string, unknown>;
  clientInfo: Record<string, unknown> | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The declaration of an `initialize`, checked as MCP shapes it (a server would refuse it otherwise, and berth would
 * report the refusal as the server failing): `protocolVersion` a string, `capabilities` an object, `clientInfo` an
 * object whose `name` (and `version`, when given) are strings; and a bounded amount, whatever the client declares.
 */
export function declarationOf(params: Record<string, unknown>): Declaration {
  const { protocolVersion, capabilities = {}, clientInfo } = params;
  if (protocolVersion !== undefined && typeof protocolVersion !== 'string')
    throw new BerthError('invalid_params', 'initialize takes params.protocolVersion, a string such as "2025-11-25"');
  if (!isObject(capabilities)) throw new BerthError('invalid_params', 'initialize takes params.capabilities, an object');
  const named = isObject(clientInfo) && typeof clientInfo.name === 'string' && (clientInfo.version === undefined || typeof clientInfo.version === 'string');
  if (clientInfo !== undefined && !named)
    throw new BerthError('invalid_params', 'initialize takes params.clientInfo, an object with a string name and version');
  if (JSON.stringify({ capabilities, clientInfo }).length > MAX_CLIENT_DECLARATION_CHARS) {
    throw new BerthError(
      'invalid_params',
      `initialize's capabilities and clientInfo come to more than the ${MAX_CLIENT_DECLARATION_CHARS} characters berth keeps for a client; declare less`,
    );
  }
  return { capabilities, clientInfo: clientInfo as Record<string, unknown> | undefined };
}

/**
 * The longest tool name or resource URI a legacy client's request may carry: the facade sends it to the sandbox in
 * the `Mcp-Name` header too (base64 when not plain ASCII, a third longer), which must fit a header.
 */
const MAX_NAME_CHARS = 8 * 1024;

/** A request's name (a tool's, or a resource's URI) as it may travel in `Mcp-Name`. */
export function headerNameOf(name: string): string {
  if (name.length > MAX_NAME_CHARS)
    throw new BerthError(
      'invalid_params',
      `a name of ${name.length} characters is longer than the ${MAX_NAME_CHARS} berth passes on; no tool or resource needs that many`,
    );
  return /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(name) ? name : `=?base64?${Buffer.from(name).toString('base64')}?=`;
}
