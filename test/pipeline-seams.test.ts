/**
 * The edge's pipeline has one seam per step (issue 15): a door takes its session's sandbox only through the lease
 * step (src/edge/pipeline/lease.ts), the step where a cluster forwards a request whose session another node holds.
 * A door that called the session manager itself would skip forwarding, as a route that skipped admission would
 * skip authentication.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const EDGE = resolve(import.meta.dirname, '../src/edge');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

test("only the pipeline's lease step takes a session's sandbox from the session manager", () => {
  const takers = sources(EDGE)
    .filter((file) => /\.acquire\(/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(EDGE, file));
  assert.deepEqual(takers, ['pipeline/lease.ts']);
});

test("every door's handler takes an admitted Caller, never a bare Request", () => {
  const doors = ['mcp/endpoint.ts', 'invocations.ts', 'commands.ts'].map((file) => readFileSync(join(EDGE, file), 'utf8'));
  for (const door of doors) assert.match(door, /return async \(caller: Caller\): Promise<Answer> =>/);
});
