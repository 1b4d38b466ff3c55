import { inboundOf, type Inbound, type RequestHeaders } from '../../core/inbound.ts';

/**
 * AgentCore's way for a WebSocket client that cannot set headers (a browser) to send a bearer token: as a
 * subprotocol `base64UrlBearerAuthorization.<token in base64url>`, beside the marker `base64UrlBearerAuthorization`,
 * which the server names back in its 101.
 */
export const BEARER_PROTOCOL = 'base64UrlBearerAuthorization';
const PREFIX = `${BEARER_PROTOCOL}.`;
/** A token sent this way is at most this long once encoded, as AgentCore's clients allow. */
const MAX_ENCODED = 4096;

/** The subprotocols a handshake offers, in order. */
export function offeredProtocols(headers: RequestHeaders): string[] {
  const value = headers.get('sec-websocket-protocol');
  if (value === null) return [];
  return value
    .split(',')
    .map((one) => one.trim())
    .filter((one) => one !== '');
}

/**
 * The request as its authenticator should see it: a token offered as a subprotocol becomes its Authorization
 * header, unless it has one already. Anything else is the request as it came.
 */
export function withProtocolBearer(inbound: Inbound): Inbound {
  if (inbound.headers.get('authorization') !== null) return inbound;
  const offered = offeredProtocols(inbound.headers).find((protocol) => protocol.startsWith(PREFIX));
  if (offered === undefined) return inbound;
  const encoded = offered.slice(PREFIX.length);
  if (encoded.length === 0 || encoded.length > MAX_ENCODED || !/^[A-Za-z0-9_-]+$/.test(encoded)) return inbound;
  const headers = new Headers(inbound.request.headers);
  headers.set('authorization', `Bearer ${Buffer.from(encoded, 'base64url').toString('utf8')}`);
  const request = new Request(inbound.url, { method: inbound.method, headers });
  return { ...inboundOf(request, inbound.url, inbound.signal), upgrade: inbound.upgrade === true };
}
