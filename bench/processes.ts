/** What the benchmarks read of a sandbox's processes in /proc: their memory (PSS) and CPU time. */
import { readdirSync, readFileSync } from 'node:fs';
import { processCpuMs } from './process-cpu.ts';

/** A process's proportional set size in bytes: its own pages, and its share of those it shares; 0 once it is gone. */
export function pss(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** A process's children, whichever of its threads started them (a child may be listed under more than one). */
export function children(pid: number): number[] {
  try {
    const all = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
    return [...new Set(all)];
  } catch {
    return [];
  }
}

/** `pid` and everything below it. */
export function descendants(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i] as number));
  return all;
}

/**
 * A bwrap sandbox's processes: berth's and the user's server below them (with anything it started). Berth's are
 * the outer and inner bwrap and the launcher, which is either the supervisor (a supervised sandbox) or a shell
 * (a hosted one, whose server berth supervises from its own process); a hosted launcher's forked shell waiting on
 * the server, and its command runner once a command has run, are berth's too.
 */
export function bwrapSandbox(outer: number): { berth: number[]; server: number[] } {
  const inner = children(outer);
  const launchers = inner.flatMap(children);
  const berth = [outer, ...inner, ...launchers];
  const server: number[] = [];
  for (const launcher of launchers) {
    const launcherLine = cmdline(launcher);
    for (const child of children(launcher)) {
      const line = cmdline(child);
      if (line === launcherLine) {
        berth.push(child);
        server.push(...children(child).flatMap(descendants));
      } else if (line.includes('/opt/berth/supervisor.cjs')) berth.push(child);
      else server.push(...descendants(child));
    }
  }
  return { berth, server };
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
export const sumPss = (pids: number[]): number => pids.reduce((sum, pid) => sum + pss(pid), 0);

/** CPU time the processes used so far, in ms; a process gone counts nothing. */
export function cpuMs(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += processCpuMs(pid);
    } catch {
      // gone
    }
  }
  return total;
}

export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
