import type { RequestHeaders } from '../core/inbound.ts';
import { BerthError } from '../core/errors.ts';
import { decodeHeaderValue } from './classify.ts';

/**
 * SEP-2243 parameter headers: a tool may mark top-level arguments with `"x-mcp-header": "Name"` in its
 * `inputSchema`, and a 2026-07-28 client then mirrors each such argument as `Mcp-Param-Name`, so gateways can route
 * on it without reading bodies. Whoever processes the body must check each mirrored header against it.
 */

export interface ParamHeader {
  /** The header, lower-cased: `mcp-param-region`. */
  header: string;
  /** The argument it mirrors. */
  property: string;
  type: 'string' | 'integer' | 'boolean';
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MIRRORED_TYPES = new Set(['string', 'integer', 'boolean']);

/**
 * The parameter headers a tool declares, or undefined when it declares none or declares them against the rules
 * (a client drops such a tool, so nothing of it is checked either).
 */
export function paramHeadersOf(inputSchema: unknown): ParamHeader[] | undefined {
  if (typeof inputSchema !== 'object' || inputSchema === null) return undefined;
  const properties = (inputSchema as { properties?: unknown }).properties;
  if (typeof properties !== 'object' || properties === null) return undefined;
  const found: ParamHeader[] = [];
  const seen = new Set<string>();
  for (const [property, schema] of Object.entries(properties as Record<string, unknown>)) {
    if (typeof schema !== 'object' || schema === null) continue;
    const name = (schema as Record<string, unknown>)['x-mcp-header'];
    if (name === undefined) continue;
    const type = (schema as Record<string, unknown>).type;
    if (typeof name !== 'string' || !TOKEN.test(name) || typeof type !== 'string' || !MIRRORED_TYPES.has(type)) return undefined;
    const header = `mcp-param-${name.toLowerCase()}`;
    if (seen.has(header)) return undefined;
    seen.add(header);
    found.push({ header, property, type: type as ParamHeader['type'] });
  }
  return found.length > 0 ? found : undefined;
}

/** Throws -32020 unless every declared parameter header agrees with the call's arguments. */
export function checkParamHeaders(declared: readonly ParamHeader[], headers: RequestHeaders, args: unknown): void {
  const values = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>;
  for (const { header, property, type } of declared) {
    const raw = headers.get(header);
    const body = values[property];
    const present = body !== undefined && body !== null;
    if (raw === null) {
      if (present) throw mismatch(`argument "${property}" is mirrored by the ${display(header)} header, which is missing`, '(missing)', body);
      continue;
    }
    if (!present) throw mismatch(`${display(header)} is sent but argument "${property}" is absent`, raw, body);
    const decoded = decodeHeaderValue(raw);
    if (decoded === undefined || !sameValue(decoded, body, type)) {
      throw mismatch(`${display(header)} is ${raw} but argument "${property}" is ${JSON.stringify(body)}`, raw, body);
    }
  }
}

/** Integers compare numerically (`42` equals `42.0`), booleans as `true`/`false`, strings exactly. */
function sameValue(header: string, body: unknown, type: ParamHeader['type']): boolean {
  switch (type) {
    case 'string':
      return header === body;
    case 'integer':
      return typeof body === 'number' && header.trim() !== '' && Number(header) === body;
    case 'boolean':
      return typeof body === 'boolean' && header === String(body);
  }
}

function display(header: string): string {
  return header.replace(/(^|-)([a-z])/g, (_all, dash: string, letter: string) => dash + letter.toUpperCase());
}

function mismatch(message: string, header: string, body: unknown): BerthError {
  return new BerthError('header_mismatch', `the request headers and body disagree: ${message}`, {
    details: { mismatch: { header, body: body === undefined ? '(absent)' : String(body) } },
  });
}
