import { createHmac } from 'node:crypto';
import { mintSessionId } from '../../core/ids.ts';
import type { RuntimeSpec } from '../../store/store.ts';
import { ANONYMOUS, type Principal } from './principal.ts';

/**
 * The session a request that names none gets: a new one, or, for a runtime whose sessions follow the caller
 * (`sessionScope: principal`), the authenticated principal's own, the same id every time, so a client that keeps
 * no session id (a desktop app, an IDE, one restarted) still finds its state. The id is keyed with a secret the
 * nodes share: nobody can work out another principal's id and take it first.
 */
export class SessionScope {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    this.#key = key;
  }

  fresh(spec: RuntimeSpec | undefined, runtime: string, principal: Principal): string {
    if (spec?.sessionScope !== 'principal' || principal.key === ANONYMOUS.key) return mintSessionId();
    return `principal-${createHmac('sha256', this.#key).update(`${runtime}\0${principal.key}`).digest('base64url')}`;
  }
}
