/** What every benchmark shares: the warm call it times, and how it reports. */
import type { Pool } from 'undici';
import { SESSION_HEADER } from '../test/helpers/berth.ts';

export const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
export const CALL_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'increment', arguments: {}, _meta: META } });
export const CALL_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'increment',
};

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export const ms = (value: number): string => `${value.toFixed(2)} ms`;

/** One warm `tools/call increment` of `sessionId` (none: the request names no session). */
export async function call(pool: Pool, path: string, sessionId?: string): Promise<void> {
  const headers: Record<string, string> = sessionId === undefined ? CALL_HEADERS : { ...CALL_HEADERS, [SESSION_HEADER]: sessionId };
  const { statusCode, body } = await pool.request({ path, method: 'POST', headers, body: CALL_BODY });
  const text = await body.text();
  if (statusCode !== 200 || !text.includes('count')) throw new Error(`call failed (${statusCode}): ${text.slice(0, 300)}`);
}

export async function timed(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/**
 * Starts a second over the `span` starts that brought the count to `live`, from each start's arrival time (ms, in
 * order); undefined if there were not that many.
 */
export function rateBefore(arrivals: readonly number[], live: number, span = Math.min(50, Math.floor(live / 2))): number | undefined {
  const last = arrivals[live - 1];
  const first = arrivals[live - 1 - span];
  return last === undefined || first === undefined ? undefined : (span * 1000) / (last - first);
}
