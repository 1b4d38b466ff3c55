import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
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
const AAD = Buffer.from('berth/request-state/v1');
const IV_BYTES = 12;
const TAG_BYTES = 16;

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
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the request state key must be 32 bytes');
    this.#key = key;
  }

  seal(binding: StateBinding, inner: string | undefined, ttlMs: number, now = Date.now()): string {
    const payload: Payload = { s: binding.session, r: binding.runtime, p: binding.principal, m: binding.method, n: binding.name, d: binding.digest, e: now + ttlMs };
    if (inner !== undefined) payload.i = inner;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
    return VERSION + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /**
   * Opens a state this node sealed. Throws `request_state_invalid` for anything altered, truncated or sealed under
   * another key, and `request_state_expired` past its expiry.
   */
  open(token: string, now = Date.now()): OpenedState {
    if (!token.startsWith(VERSION)) throw invalid();
    const raw = Buffer.from(token.slice(VERSION.length), 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) throw invalid();
    let payload: Payload;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(AAD);
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      payload = JSON.parse(text) as Payload;
    } catch {
      throw invalid();
    }
    if (payload.e < now) {
      throw new BerthError('request_state_expired', 'requestState has expired: the server stopped waiting for these answers; send the request again without inputResponses and requestState');
    }
    const opened: OpenedState = { session: payload.s, runtime: payload.r, principal: payload.p, method: payload.m, name: payload.n, digest: payload.d, expiresAt: payload.e };
    if (payload.i !== undefined) opened.inner = payload.i;
    return opened;
  }
}

function invalid(): BerthError {
  return new BerthError('request_state_invalid', 'requestState is not one this berth handed out, or it was altered; echo it byte for byte, or send the request again without it');
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
    throw new BerthError('request_state_mismatch', `requestState was issued for ${mismatch}; a retry must repeat the original request with the same method, name and arguments`);
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
