import { randomBytes, randomUUID } from 'node:crypto';
import { BerthError } from './errors.ts';

/** AgentCore's rule for runtime session ids: 33 to 256 characters. */
export const SESSION_ID_MIN_LENGTH = 33;
export const SESSION_ID_MAX_LENGTH = 256;
/** Visible ASCII only, so an id is safe in a header, a URL segment and a log line. */
const SESSION_ID_CHARS = /^[\x21-\x7e]+$/;

export function checkSessionId(value: string): string {
  if (value.length < SESSION_ID_MIN_LENGTH || value.length > SESSION_ID_MAX_LENGTH) {
    throw new BerthError(
      'invalid_session_id',
      `session id must be ${SESSION_ID_MIN_LENGTH} to ${SESSION_ID_MAX_LENGTH} characters long, got ${value.length}; a UUID (36 characters) works`,
      { details: { length: value.length } },
    );
  }
  if (!SESSION_ID_CHARS.test(value)) {
    throw new BerthError('invalid_session_id', 'session id may hold only visible ASCII characters (no spaces or control characters)');
  }
  return value;
}

export function mintSessionId(): string {
  return randomUUID();
}

const RUNTIME_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,47}$/;

export function checkRuntimeName(value: string): string {
  if (!RUNTIME_NAME.test(value)) {
    throw new BerthError('validation_failed', `runtime name "${value}" is not valid: use 1 to 48 letters, digits, "_" or "-", starting with a letter`, {
      details: { field: 'name' },
    });
  }
  return value;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A short random id such as `sbx_3kq7m2ab9xfe`: 60 bits, safe in paths and socket names. */
export function randomId(prefix: string, length = 12): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += BASE32[byte & 31];
  return `${prefix}_${out}`;
}
