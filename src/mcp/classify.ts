import type { RequestHeaders } from '../core/inbound.ts';
import { BerthError } from '../core/errors.ts';
import { isRequest, type JsonRpcId, type JsonRpcMessage } from './jsonrpc.ts';

/**
 * Classifies one inbound Streamable HTTP message: which protocol revision it speaks, its method and name, and
 * whether its headers agree with its body. Each message is classified once, at the edge, before any sandbox sees
 * it; a modern (2026-07-28) request that breaks the transport's rules is refused here with the code the
 * specification gives.
 */

export const MODERN_VERSION = '2026-07-28';
/** Revisions of the stateful era that berth serves to legacy clients, newest first. */
export const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;
export const SUPPORTED_VERSIONS: readonly string[] = [MODERN_VERSION, ...LEGACY_VERSIONS];

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
export const META_SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';

/** Methods 2026-07-28 removed; a modern request naming one gets "method not found". */
const REMOVED_METHODS = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

/** Where each named method keeps its name, which the `Mcp-Name` header must repeat. */
const NAME_PARAM: Record<string, string> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

/** Methods whose result may be `input_required` (MRTR). */
export const INPUT_CAPABLE_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

export interface ModernRequest {
  era: 'modern';
  id: JsonRpcId;
  method: string;
  /** Tool or prompt name, resource URI or task id, for methods that have one. */
  name?: string;
  params: Record<string, unknown>;
  capabilities: Record<string, unknown>;
}

export interface ModernNotification {
  era: 'modern-notification';
  method: string;
}

export interface LegacyMessage {
  era: 'legacy';
  /** The version the client claims in `MCP-Protocol-Version`, if any. */
  version?: string;
}

export type Classified = ModernRequest | ModernNotification | LegacyMessage;

/**
 * A header value per SEP-2243: `=?base64?…?=` carries UTF-8 that plain ASCII cannot. A value in that form whose
 * base64 is malformed (wrong alphabet, wrong padding) decodes to undefined, which equals no body value.
 */
export function decodeHeaderValue(value: string): string | undefined {
  if (!value.startsWith('=?base64?') || !value.endsWith('?=') || value.length < 11) return value;
  const encoded = value.slice(9, -2);
  if (encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return undefined;
  return Buffer.from(encoded, 'base64').toString('utf8');
}

/** What a modern client is told berth supports: exactly what `server/discover` advertises. */
const MODERN_ONLY: readonly string[] = [MODERN_VERSION];

function unsupported(requested: string, supported: readonly string[] = SUPPORTED_VERSIONS): BerthError {
  return new BerthError('unsupported_protocol_version', `Unsupported protocol version: ${requested}; supported: ${supported.join(', ')}`, {
    details: { supported: [...supported], requested },
  });
}

/** Every 2026-07-28 request names its revision and its client's capabilities in `_meta` (-32602 otherwise). */
function checkEnvelope(meta: Record<string, unknown>): void {
  const problems: Array<[string, string]> = [];
  if (typeof meta[META_PROTOCOL_VERSION] !== 'string')
    problems.push([META_PROTOCOL_VERSION, meta[META_PROTOCOL_VERSION] === undefined ? 'missing' : 'invalid']);
  const capabilities = meta[META_CLIENT_CAPABILITIES];
  if (typeof capabilities !== 'object' || capabilities === null || Array.isArray(capabilities)) {
    problems.push([META_CLIENT_CAPABILITIES, capabilities === undefined ? 'missing' : 'invalid']);
  }
  const first = problems[0];
  if (!first) return;
  throw new BerthError('invalid_params', `Invalid _meta envelope for protocol revision ${MODERN_VERSION}: ${first[0]}: ${first[1]}`, {
    details: { envelope: { key: first[0], problem: first[1] } },
  });
}

function mismatch(message: string, header: string, body: string): BerthError {
  return new BerthError('header_mismatch', `the request headers and body disagree: ${message}`, { details: { mismatch: { header, body } } });
}

export function classify(headers: RequestHeaders, message: JsonRpcMessage): Classified {
  const headerVersion = headers.get('mcp-protocol-version') ?? undefined;
  const params = ('params' in message ? message.params : undefined) ?? {};
  const meta = (typeof params._meta === 'object' && params._meta !== null ? params._meta : {}) as Record<string, unknown>;
  const bodyVersion = meta[META_PROTOCOL_VERSION];
  // A version header naming no revision berth knows, on a body without the modern envelope, is a legacy client's
  // mistake; with the envelope it is a modern request (the mismatch and version checks below decide).
  const claimsModern =
    headerVersion === MODERN_VERSION ||
    bodyVersion !== undefined ||
    (headerVersion !== undefined && !SUPPORTED_VERSIONS.includes(headerVersion) && '_meta' in params);

  if (!claimsModern) {
    if (headerVersion !== undefined && !SUPPORTED_VERSIONS.includes(headerVersion)) throw unsupported(headerVersion);
    return headerVersion === undefined ? { era: 'legacy' } : { era: 'legacy', version: headerVersion };
  }
  if (!('method' in message)) {
    throw new BerthError('invalid_request', 'JSON-RPC responses are not sent to a 2026-07-28 server: servers send no requests in that revision');
  }
  // The order the transport's checks run in: header present, envelope complete, header agrees with body, version known.
  if (headerVersion === undefined) throw mismatch('the MCP-Protocol-Version header is missing', '(missing)', String(bodyVersion));
  if (isRequest(message)) checkEnvelope(meta);
  if (bodyVersion !== undefined && bodyVersion !== headerVersion) {
    throw mismatch(`MCP-Protocol-Version is ${headerVersion} but _meta names ${String(bodyVersion)}`, headerVersion, String(bodyVersion));
  }
  if (headerVersion !== MODERN_VERSION) throw unsupported(headerVersion, MODERN_ONLY);

  const method = message.method;
  const methodHeader = headers.get('mcp-method');
  if (!isRequest(message)) {
    if (methodHeader !== null && decodeHeaderValue(methodHeader) !== method)
      throw mismatch(`Mcp-Method is ${methodHeader} but the body names ${method}`, methodHeader, method);
    return { era: 'modern-notification', method };
  }
  if (methodHeader === null) throw mismatch(`the body names method ${method} but the required Mcp-Method header is absent`, '(missing)', method);
  if (decodeHeaderValue(methodHeader) !== method) throw mismatch(`Mcp-Method is ${methodHeader} but the body names ${method}`, methodHeader, method);

  let name: string | undefined;
  const nameParam = NAME_PARAM[method];
  if (nameParam !== undefined) {
    const bodyName = params[nameParam];
    const nameHeader = headers.get('mcp-name');
    if (typeof bodyName === 'string') name = bodyName;
    if (nameHeader === null) throw mismatch(`${method} needs the Mcp-Name header (the ${nameParam})`, '(missing)', String(bodyName));
    if (decodeHeaderValue(nameHeader) !== bodyName)
      throw mismatch(`Mcp-Name is ${nameHeader} but the body's ${nameParam} is ${String(bodyName)}`, nameHeader, String(bodyName));
  }

  const capabilities = meta[META_CLIENT_CAPABILITIES];
  if (REMOVED_METHODS.has(method)) {
    throw new BerthError('method_not_found', `Method not found: ${method} is not part of protocol revision ${MODERN_VERSION}`);
  }
  const request: ModernRequest = { era: 'modern', id: message.id, method, params, capabilities: (capabilities ?? {}) as Record<string, unknown> };
  if (name !== undefined) request.name = name;
  return request;
}
