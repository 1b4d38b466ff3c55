import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ENTRY = fileURLToPath(new URL('../supervisor/main.ts', import.meta.url));

/**
 * Bundles the supervisor into one plain-JavaScript file. Every sandbox starts it, so it must load fast: one file,
 * no type stripping, no module resolution at start. CommonJS, because an ES-module import of `node:http` evaluates
 * all of its lazy exports (undici's WebSocket among them), which costs some 30 ms per start; `require` does not.
 * Built once per berth start into `dir`.
 */
export async function buildSupervisor(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'supervisor.cjs');
  const temp = `${out}.${process.pid}.tmp`;
  await build({
    entryPoints: [ENTRY],
    outfile: temp,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  renameSync(temp, out);
  return out;
}

/**
 * Node flags for the supervisor: a small heap is plenty for a proxy and keeps berth's own memory per session low;
 * one V8 worker thread instead of one per core keeps its task count (which the pids limit counts) at four.
 */
export const SUPERVISOR_NODE_FLAGS = ['--max-old-space-size=48', '--max-semi-space-size=1', '--v8-pool-size=1'];
