import { readdirSync, statfsSync } from 'node:fs';
import type { SupervisorSpec, SupervisorStatus } from '../core/channel.ts';
import { SamplingPace } from '../core/sampling-pace.ts';

/**
 * Sampled every second while the sandbox answers calls (with a call's end, while it is awake anyway, at most once a
 * second), and every 15 s between calls.
 */
const PACE = { busyMs: 1000, trailingMs: 15_000, quietMs: 0 };
/** A workspace with less than this free is full: a write that failed for space leaves less than a block or two. */
const FULL_BELOW_BYTES = 64 * 1024;

type Watched = Extract<SupervisorStatus, { type: 'limit' }>['limit'];

/**
 * Watches, from inside the sandbox, the limits whose crossing only the sandbox's own kernel sees: the workspace
 * full, a process at its open-file limit, the sandbox's tasks at its pids limit. Each is sampled about once a second
 * while the sandbox takes calls (less often while it is idle, so idle sandboxes cost the host next to nothing) and
 * reported when it is reached (again only after it was left), so a limit crossed and left between two samples
 * goes unreported; the process that hit it got its error either way. Tell the pace returned of each call (`begin`).
 */
export function watchLimits(
  watch: NonNullable<SupervisorSpec['watch']>,
  report: (status: SupervisorStatus) => void,
  places: WatchPlaces = INSIDE_THE_SANDBOX,
): SamplingPace {
  const reached = new Set<Watched>();
  const judge = (limit: Watched, used: number, max: number, atLimit: boolean): void => {
    if (atLimit && !reached.has(limit)) report({ type: 'limit', limit, used, max });
    if (atLimit) reached.add(limit);
    else reached.delete(limit);
  };
  const sample = (): void => {
    if (watch.workspace !== undefined) {
      const path = places.workspace(watch.workspace);
      const space = path === undefined ? undefined : workspaceSpace(path);
      if (space) judge('workspace', space.size - space.free, space.size, space.free < FULL_BELOW_BYTES);
    }
    if (watch.openFiles === undefined && watch.pids === undefined) return;
    let mostFiles = 0;
    let tasks = 0;
    for (const pid of places.processes()) {
      if (watch.openFiles !== undefined) mostFiles = Math.max(mostFiles, entries(`/proc/${pid}/fd`));
      if (watch.pids !== undefined) tasks += entries(`/proc/${pid}/task`);
    }
    if (watch.openFiles !== undefined) judge('openFiles', mostFiles, watch.openFiles, mostFiles >= watch.openFiles);
    if (watch.pids !== undefined) judge('pids', tasks, watch.pids, tasks >= watch.pids);
  };
  return new SamplingPace(sample, PACE);
}

/**
 * Where the watched things are: as the supervisor inside the sandbox sees them, or as berth sees a sandbox from the
 * host (its processes' host pids, and its workspace through one of them).
 */
export interface WatchPlaces {
  /** The workspace's path as the watcher reaches it, given its path inside the sandbox; undefined once unreachable. */
  workspace: (inside: string) => string | undefined;
  /** The pids of the sandbox's processes, as /proc names them for the watcher. */
  processes: () => Iterable<string>;
}

const INSIDE_THE_SANDBOX: WatchPlaces = {
  workspace: (inside) => inside,
  processes: () => readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)),
};

function workspaceSpace(path: string): { size: number; free: number } | undefined {
  try {
    const stats = statfsSync(path);
    return { size: stats.blocks * stats.bsize, free: stats.bavail * stats.bsize };
  } catch {
    return undefined;
  }
}

/** How many entries a /proc directory has; 0 once its process is gone. */
function entries(dir: string): number {
  try {
    return readdirSync(dir).length;
  } catch {
    return 0;
  }
}
