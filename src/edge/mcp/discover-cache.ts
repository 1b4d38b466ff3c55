import type { Readable } from 'node:stream';
import { tapResult } from './answer-tap.ts';

/** Runtime versions remembered; the oldest is forgotten past this. */
const MAX_VERSIONS = 1000;

/**
 * Each runtime version's `server/discover` result, learned from the answers that pass through berth. A version's
 * servers all describe themselves alike, so a client that names no session (of a runtime whose sessionless clients
 * are answered as its server would: `sessionlessClients: stateless`) gets the answer from here, in milliseconds,
 * and no sandbox starts for a question that holds no state.
 */
export class DiscoverCache {
  readonly #byVersion = new Map<string, Record<string, unknown>>();

  get(version: string): Record<string, unknown> | undefined {
    return this.#byVersion.get(version);
  }

  has(version: string): boolean {
    return this.#byVersion.has(version);
  }

  /** The answer to a `server/discover`, passed through unchanged while its result is kept. */
  observe(version: string, body: Readable, contentType: string): Readable {
    return tapResult(body, contentType, (result) => {
      if (typeof result !== 'object' || result === null || !Array.isArray((result as { supportedVersions?: unknown }).supportedVersions)) return;
      this.#byVersion.delete(version);
      if (this.#byVersion.size >= MAX_VERSIONS) {
        const oldest = this.#byVersion.keys().next().value;
        if (oldest !== undefined) this.#byVersion.delete(oldest);
      }
      this.#byVersion.set(version, result as Record<string, unknown>);
    });
  }
}
