import { createHash } from 'node:crypto';
import { BerthError } from '../../core/errors.ts';

const MAX_ENTRIES = 1000;
const TTL_MS = 8 * 60 * 60 * 1000;

interface Entry {
  request: string;
  status: number;
  body: unknown;
  at: number;
}

/**
 * AgentCore's `clientToken`: the SDK fills one per call and reuses it on retries, so a retried Create or Update
 * whose first answer was lost gets that answer again instead of making a second version. A token reused with
 * other parameters is refused. Kept in memory for hours, which covers any retry.
 */
export class IdempotencyCache {
  readonly #entries = new Map<string, Entry>();

  async run(
    operation: string,
    token: unknown,
    request: unknown,
    work: () => Promise<{ status: number; body: unknown }>,
  ): Promise<{ status: number; body: unknown }> {
    if (typeof token !== 'string' || token === '') return work();
    const key = `${operation}\0${token}`;
    const digest = createHash('sha256').update(JSON.stringify(request)).digest('base64');
    const seen = this.#entries.get(key);
    if (seen && Date.now() - seen.at < TTL_MS) {
      if (seen.request !== digest) {
        throw new BerthError('validation_failed', `clientToken ${token} was already used for a different ${operation} request`, {
          details: { reason: 'IdempotentParameterMismatchException' },
        });
      }
      return { status: seen.status, body: seen.body };
    }
    const answer = await work();
    this.#entries.delete(key);
    this.#entries.set(key, { request: digest, ...answer, at: Date.now() });
    while (this.#entries.size > MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    return answer;
  }
}
