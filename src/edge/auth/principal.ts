import type { SessionPrincipal } from '../../sessions/manager.ts';

/**
 * Who a data-plane request is from: the principal its session is bound to. `key` is unique across authorizer kinds
 * and issuers; `userId` is what the runtime's server is told, as AgentCore tells it
 * (`X-Amzn-Bedrock-AgentCore-Runtime-User-Id`).
 */
export type Principal = SessionPrincipal;

/** The caller of a runtime whose authorizer is `none`: everyone is the same principal. */
export const ANONYMOUS: Principal = { key: 'anonymous', userId: 'anonymous' };
