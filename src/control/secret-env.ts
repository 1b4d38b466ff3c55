import { BerthError } from '../core/errors.ts';
import type { SecretBox } from '../core/secret-box.ts';
import type { RuntimeSpec } from '../store/store.ts';

/** How `/v1` shows a secret variable's value: never the value, sealed or not. */
export const HIDDEN_SECRET = '(secret)';

/**
 * Runtimes' secret variables: sealed at deploy (each for its runtime and name, so a sealed value opens as nothing
 * else), opened only to build a session's sandbox, and shown by name alone.
 */
export class SecretEnv {
  readonly #box: SecretBox;

  constructor(box: SecretBox) {
    this.#box = box;
  }

  seal(runtime: string, env: Record<string, string>, secretEnv: Record<string, string>): Record<string, string> {
    const refused = (why: string): BerthError =>
      new BerthError('validation_failed', `runtime "${runtime}" was not deployed: ${why}`, { details: { field: 'secretEnv' } });
    const both = Object.keys(secretEnv).filter((key) => Object.hasOwn(env, key));
    if (both.length > 0) throw refused(`${both.join(', ')} is in both env and secretEnv; give each variable once`);
    // What berth shows in place of a value, sent back (a GET's spec deployed again), is not a secret to keep.
    const placeholders = Object.keys(secretEnv).filter((key) => secretEnv[key] === HIDDEN_SECRET);
    if (placeholders.length > 0)
      throw refused(`${placeholders.join(', ')} holds "${HIDDEN_SECRET}", how berth shows a secret, not its value; send the value itself`);
    return Object.fromEntries(Object.entries(secretEnv).map(([key, value]) => [key, this.#box.seal(value, contextOf(runtime, key))]));
  }

  /** The secret variables' values; a failure says no more than that the secrets do not open (callers read it). */
  open(runtime: string, sealed: Record<string, string>): Record<string, string> {
    const opened: Record<string, string> = {};
    for (const [key, value] of Object.entries(sealed)) {
      const plain = this.#box.open(value, contextOf(runtime, key));
      if (plain === undefined)
        throw new BerthError(
          'internal',
          `runtime "${runtime}"'s secret variables do not open with berth's secret key; its operator must restore the key they were stored under`,
        );
      opened[key] = plain.toString('utf8');
    }
    return opened;
  }
}

/** A spec as berth's API shows it: secret variables by name only. */
export function publicSpec(spec: RuntimeSpec): RuntimeSpec {
  if (!spec.secretEnv) return spec;
  return { ...spec, secretEnv: Object.fromEntries(Object.keys(spec.secretEnv).map((key) => [key, HIDDEN_SECRET])) };
}

function contextOf(runtime: string, key: string): string {
  return `berth/secret-env/${runtime}/${key}`;
}
