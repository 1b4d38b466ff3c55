import { createHash } from 'node:crypto';
import { SecretBox } from '../core/secret-box.ts';
import { BerthError } from '../core/errors.ts';

/**
 * MRTR `requestState` as berth hands it out: whatever state the server (or berth's bridge) put in an
 * `input_required` result, sealed with AES-256-GCM under the node's key together with what the state is for —
 * session, runtime, principal, method, name, a digest of the arguments — and an expiry. A client can carry it but
 * not read, alter, replay elsewhere or keep it past its time: the edge opens it before any sandbox sees the retry.
 */

export interface StateBinding {
  session: string;
  runtime: string;
  principal: string;
  method: string;
  /** Tool or prompt name, or resource URI. */
  name: string;
  /** Digest of the call's arguments (see `argumentsDigest`). */
  digest: string;
}

export interface OpenedState extends StateBinding {
  /** The server's own state, handed back to it on the retry; absent when it sent none. */
  inner?: string;
  expiresAt: number;
}

const VERSION = 'b1.';
const CONTEXT = 'berth/request-state/v1';

interface Payload {
  s: string;
  r: string;
  p: string;
  m: string;
  n: string;
  d: string;
  e: number;
  i?: string;
}

export class RequestStateSealer {
  readonly #box: SecretBox;

  constructor(key: Buffer) {
    this.#box = new SecretBox(key);
  }

  seal(binding: StateBinding, inner: string | undefined, ttlMs: number, now = Date.now()): string {
    const payload: Payload = {
      s: binding.session,
      r: binding.runtime,
      p: binding.principal,
      m: binding.method,
      n: binding.name,
      d: binding.digest,
      e: now + ttlMs,
    };
    if (inner !== undefined) payload.i = inner;
    return VERSION + this.#box.seal(JSON.stringify(payload), CONTEXT);
  }

  /**
   * Opens a state this node sealed. Throws `request_state_invalid` for anything altered, truncated or sealed under
   * another key, and `request_state_expired` past its expiry.
   */
  open(token: string, now = Date.now()): OpenedState {
    if (!token.startsWith(VERSION)) throw invalid();
    const text = this.#box.open(token.slice(VERSION.length), CONTEXT);
    if (text === undefined) throw invalid();
    let payload: Payload;
    try {
      payload = JSON.parse(text.toString('utf8')) as Payload;
    } catch {
      throw invalid();
    }
    if (payload.e < now) {
      throw new BerthError(
        'request_state_expired',
        'requestState has expired: the server stopped waiting for these answers; send the request again without inputResponses and requestState',
      );
    }
    const opened: OpenedState = {
      session: payload.s,
      runtime: payload.r,
      principal: payload.p,
      method: payload.m,
      name: payload.n,
      digest: payload.d,
      expiresAt: payload.e,
    };
    if (payload.i !== undefined) opened.inner = payload.i;
    return opened;
  }
}

function invalid(): BerthError {
  return new BerthError(
    'request_state_invalid',
    'requestState is not one this berth handed out, or it was altered; echo it byte for byte, or send the request again without it',
  );
}

/** Checks that a retry is the request the state was issued for. */
export function checkBinding(opened: OpenedState, expected: Omit<StateBinding, 'session'>): void {
  const mismatch =
    opened.runtime !== expected.runtime
      ? 'another runtime'
      : opened.principal !== expected.principal
        ? 'another caller'
        : opened.method !== expected.method || opened.name !== expected.name
          ? `${opened.method} ${opened.name}`
          : opened.digest !== expected.digest
            ? 'the same call with other arguments'
            : undefined;
  if (mismatch) {
    throw new BerthError(
      'request_state_mismatch',
      `requestState was issued for ${mismatch}; a retry must repeat the original request with the same method, name and arguments`,
    );
  }
}

/** A digest of call arguments that does not depend on key order. */
export function argumentsDigest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
