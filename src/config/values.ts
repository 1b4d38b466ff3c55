import { BerthError } from '../core/errors.ts';

/** Readers of one setting's text, shared by every part of the configuration: each names the setting when it refuses. */

export type Env = Readonly<Record<string, string | undefined>>;

/** A comma-separated list; unset or empty is none. */
export function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

export interface Source {
  value: string | undefined;
  name: string;
}

export function invalid(source: Source, expected: string): BerthError {
  return new BerthError('validation_failed', `${source.name} must be ${expected}, got ${JSON.stringify(source.value)}`, {
    details: { setting: source.name },
  });
}

export function text(source: Source, fallback: string): string {
  if (source.value === undefined) return fallback;
  if (source.value.trim() === '') throw invalid(source, 'a non-empty string');
  return source.value;
}

export function integer(source: Source, fallback: number, min: number, max: number): number {
  if (source.value === undefined) return fallback;
  const value = /^-?\d+$/.test(source.value.trim()) ? Number(source.value) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw invalid(source, `an integer from ${min} to ${max}`);
  return value;
}

export function decimal(source: Source, fallback: number, min: number, max: number): number {
  if (source.value === undefined) return fallback;
  const value = Number(source.value);
  if (source.value.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(source, `a number from ${min} to ${max}`);
  }
  return value;
}

export function oneOf<const T extends string>(source: Source, fallback: T, allowed: readonly T[]): T {
  if (source.value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(source.value)) throw invalid(source, `one of ${allowed.join(', ')}`);
  return source.value as T;
}
