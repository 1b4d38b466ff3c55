import type * as z from 'zod';
import { BerthError } from '../core/errors.ts';

/** Parses a control-plane body against its schema, or throws one validation error naming every bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, refused: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  throw new BerthError('validation_failed', `${refused}: ${issues.join('; ')}`, { details: { issues } });
}
