import type * as z from 'zod';
import { BerthError } from '../core/errors.ts';
import type { OutboundPolicy } from '../core/outbound-policy.ts';

/** Parses a control-plane body against its schema, or throws one validation error naming every bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, refused: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  throw new BerthError('validation_failed', `${refused}: ${issues.join('; ')}`, { details: { issues } });
}

/**
 * Refuses a jwt authorizer whose discovery URL berth would never fetch: not https (http only to a host
 * BERTH_OUTBOUND_ALLOW lists), a literal loopback, link-local, private or reserved address in any spelling, a
 * loopback name, or berth's own port here. A name is not resolved now; the fetch judges what it resolves to.
 */
export function checkDiscoveryUrl(runtime: string, discoveryUrl: string, policy: OutboundPolicy): void {
  const refused = policy.refusesUrl(new URL(discoveryUrl));
  if (refused === undefined) return;
  throw new BerthError(
    'validation_failed',
    `runtime "${runtime}" was not deployed: authorizer.discoveryUrl ${discoveryUrl} is not one berth fetches: ${refused}`,
    {
      details: { field: 'authorizer.discoveryUrl' },
    },
  );
}
