import { createHmac } from 'node:crypto';
import { mintSessionId } from '../../core/ids.ts';
import type { RuntimeSpec } from '../../store/store.ts';
import { ANONYMOUS, type Principal } from './principal.ts';

const PREFIX = 'principal-';

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
    return this.#own(runtime, principal);
  }

  /**
   * Whether `principal` may make session `id` of `runtime`: an id of the scoped form is its owner's alone, so nobody
   * who learns one (the server is told it) can make it first and lock its owner out.
   */
  mayCreate(id: string, runtime: string, principal: Principal): boolean {
    return !id.startsWith(PREFIX) || id === this.#own(runtime, principal);
  }

  /** True when `id` is of the form of a principal's own session. */
  isOwn(id: string): boolean {
    return id.startsWith(PREFIX);
  }

  #own(runtime: string, principal: Principal): string {
    return `${PREFIX}${createHmac('sha256', this.#key).update(`${runtime}\0${principal.key}`).digest('base64url')}`;
  }
}
