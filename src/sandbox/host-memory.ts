import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownCgroupDir } from './cgroups.ts';

/**
 * How much memory new sandboxes can still have on this host: the machine's available memory (`MemAvailable`, which
 * counts reclaimable cache), or less when berth runs under a memory limit of its own (a container, a Kubernetes
 * pod), whose cgroup holds every sandbox too. Undefined when neither can be read (not Linux).
 */
export function availableMemoryBytes(cgroup = ownCgroupDir('memory')): number | undefined {
  const machine = memAvailable();
  const headroom = cgroup ? cgroupHeadroom(cgroup) : undefined;
  if (machine === undefined) return headroom;
  return headroom === undefined ? machine : Math.min(machine, headroom);
}

function memAvailable(): number | undefined {
  try {
    const match = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A limit at or past this is no limit (cgroup v1 writes "unlimited" as a page-rounded 2^63). */
const UNLIMITED = 2 ** 60;

/**
 * The cgroup's limit less its working set (usage less inactive file cache, which the kernel reclaims before it kills
 * anything, as kubelet counts it); undefined without a limit.
 */
function cgroupHeadroom({ version, dir }: { version: 1 | 2; dir: string }): number | undefined {
  const [limitFile, usageFile, inactiveKey] =
    version === 2 ? ['memory.max', 'memory.current', 'inactive_file'] : ['memory.limit_in_bytes', 'memory.usage_in_bytes', 'total_inactive_file'];
  try {
    const limitText = readFileSync(join(dir, limitFile), 'utf8').trim();
    if (limitText === 'max') return undefined;
    const limit = Number(limitText);
    if (!Number.isFinite(limit) || limit >= UNLIMITED) return undefined;
    const usage = Number(readFileSync(join(dir, usageFile), 'utf8').trim());
    const inactive = Number(new RegExp(`^${inactiveKey} (\\d+)$`, 'm').exec(readFileSync(join(dir, 'memory.stat'), 'utf8'))?.[1] ?? 0);
    return Math.max(0, limit - Math.max(0, usage - inactive));
  } catch {
    return undefined;
  }
}
