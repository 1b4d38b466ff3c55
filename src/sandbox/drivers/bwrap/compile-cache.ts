import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../../observability/logger.ts';
import { INSIDE } from '../../inside.ts';
import { SUPERVISOR_NODE_FLAGS } from '../../supervisor-program.ts';
import { SYSTEM_VIEW_ARGS } from './system-view.ts';

/** Where sandboxes find the supervisor's compile cache, read-only. */
export const COMPILE_CACHE_INSIDE = '/opt/berth/cache';

/**
 * V8's compiled code for the supervisor, made once per berth start, for every sandbox to start from: the supervisor
 * then skips compiling itself (about 2 ms of each sandbox's start here, and the CPU it costs). Node keys its compile
 * cache by file path, content, Node version, V8 flags and uid, so it is made inside a bwrap sandbox like theirs: the
 * supervisor at its sandbox path, run as the sandbox uid with the supervisor's flags. That run starts with no spec,
 * so it compiles and stops. Sandboxes bind the result read-only; none can change what another loads. Returns the
 * host directory, or undefined when the cache could not be made (sandboxes then start without it).
 */
export function makeCompileCache(stateDir: string, bwrap: string, files: { node: string; supervisor: string }, logger: Logger): string | undefined {
  const dir = join(stateDir, 'compile-cache');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o755 });
  const run = spawnSync(
    bwrap,
    [
      ...['--unshare-all', '--die-with-parent', '--new-session', '--uid', String(INSIDE.uid), '--gid', String(INSIDE.uid)],
      ...SYSTEM_VIEW_ARGS,
      ...['--tmpfs', '/tmp'],
      ...['--ro-bind', files.node, INSIDE.node, '--ro-bind', files.supervisor, INSIDE.supervisor, '--bind', dir, COMPILE_CACHE_INSIDE],
      ...['--clearenv', '--', '/usr/bin/env', '-i', `NODE_COMPILE_CACHE=${COMPILE_CACHE_INSIDE}`, INSIDE.node, ...SUPERVISOR_NODE_FLAGS, INSIDE.supervisor],
    ],
    { env: {}, stdio: 'ignore', timeout: 30_000 },
  );
  const made = listFiles(dir);
  if (run.error || made.length === 0) {
    logger.warn("the supervisor's compile cache could not be made; sandboxes start without it", { err: run.error, status: run.status });
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  // Node writes its cache for its own uid alone; every sandbox runs as a uid of its own.
  for (const path of [dir, ...made]) chmodSync(path, statSync(path).isDirectory() ? 0o755 : 0o644);
  return dir;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((name) => join(dir, name));
}
