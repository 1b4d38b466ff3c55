import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LimitCounters } from './limit-sampler.ts';

/**
 * Per-sandbox cgroups for memory, pids and CPU. berth nests every sandbox under its own cgroup in each hierarchy
 * (`<own>/berth-<node>/<sandbox>`), so limits stack under whatever limits berth itself runs with, and several berth
 * nodes on one machine never touch each other's sandboxes. Works on cgroup v1 (each controller its own hierarchy)
 * and on a delegated cgroup v2 tree.
 */

const CONTROLLERS = ['memory', 'pids', 'cpu'] as const;
/**
 * What berth reads besides: CPU time. cgroup v2 counts it in `cpu.stat`; v1 in the cpuacct controller, often mounted
 * with cpu (the same directory) and sometimes on its own (a directory more, joined like the others).
 */
type Controller = (typeof CONTROLLERS)[number] | 'cpuacct';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  /** CPU share in cores: 0.5 is half of one core. */
  cpus: number;
}

const CPU_PERIOD_US = 100_000;

interface Mount {
  fstype: string;
  mountpoint: string;
  root: string;
  options: string[];
}

function readMounts(): Mount[] {
  const mounts: Mount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fstype, , superOptions] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    mounts.push({ fstype, root: fields[3] ?? '/', mountpoint: fields[4] ?? '', options: (superOptions ?? '').split(',') });
  }
  return mounts;
}

/** `/proc/self/cgroup`: hierarchy controllers → our path in it ("" names the v2 hierarchy). */
function readOwnPaths(): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers = '', path = '/'] = line.split(':');
    for (const name of controllers.split(',')) paths.set(name, path);
  }
  return paths;
}

/** The directory of berth's own cgroup that `controller` governs (v1), or of its v2 cgroup; undefined when there is none. */
export function ownCgroupDir(controller: Controller): { version: 1 | 2; dir: string } | undefined {
  const mounts = readMounts();
  const own = readOwnPaths();
  const v1 = mounts.find((m) => m.fstype === 'cgroup' && m.options.includes(controller));
  if (v1) return { version: 1, dir: under(v1, own.get(controller) ?? '/') };
  const v2 = mounts.find((m) => m.fstype === 'cgroup2');
  return v2 ? { version: 2, dir: under(v2, own.get('') ?? '/') } : undefined;
}

function under(mount: Mount, ownPath: string): string {
  const relative = mount.root !== '/' && ownPath.startsWith(mount.root) ? ownPath.slice(mount.root.length) : ownPath;
  return join(mount.mountpoint, relative);
}

/** Where a node's sandbox cgroups live; `version` says how limits are written. */
export class CgroupRoot {
  readonly version: 1 | 2;
  /** The parents' directory name, under berth's own cgroup in each hierarchy. */
  readonly name: string;
  /** v1: one parent per controller (cpuacct may share cpu's); v2: the same directory for each. */
  readonly #parents: Record<Controller, string>;

  private constructor(version: 1 | 2, name: string, parents: Record<Controller, string>) {
    this.version = version;
    this.name = name;
    this.#parents = parents;
  }

  /** Finds or creates this node's cgroup parents; throws with the reason when limits cannot be enforced here. */
  static open(nodeTag: string): CgroupRoot {
    const mounts = readMounts();
    const own = readOwnPaths();
    const name = `berth-${nodeTag}`;
    const v1: Partial<Record<Controller, string>> = {};
    for (const controller of [...CONTROLLERS, 'cpuacct'] as const) {
      const mount = mounts.find((m) => m.fstype === 'cgroup' && m.options.includes(controller));
      if (mount) v1[controller] = join(under(mount, own.get(controller) ?? '/'), name);
    }
    if (v1.memory && v1.pids && v1.cpu) {
      const parents = { ...v1, cpuacct: v1.cpuacct ?? v1.cpu } as Record<Controller, string>;
      for (const dir of Object.values(parents)) mkdirSync(dir, { recursive: true });
      return new CgroupRoot(1, name, parents);
    }
    const unified = mounts.find((m) => m.fstype === 'cgroup2');
    if (!unified) {
      throw new Error(`no cgroup hierarchy offers ${CONTROLLERS.filter((c) => !v1[c]).join(', ')}: mount cgroup v1 controllers or cgroup v2`);
    }
    const base = under(unified, own.get('') ?? '/');
    const available = readFileSync(join(base, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    const missing = CONTROLLERS.filter((c) => !available.includes(c));
    if (missing.length > 0) {
      throw new Error(
        `cgroup v2 at ${base} does not delegate ${missing.join(', ')}: run berth in a cgroup with those controllers delegated (for example systemd-run --scope -p Delegate=yes)`,
      );
    }
    const parent = join(base, name);
    try {
      writeFileSync(join(base, 'cgroup.subtree_control'), '+memory +pids +cpu');
      mkdirSync(parent, { recursive: true });
      writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory +pids +cpu');
    } catch (error) {
      throw new Error(
        `cgroup v2: cannot enable memory, pids and cpu under ${base} (${(error as NodeJS.ErrnoException).code}); berth needs a delegated cgroup of its own whose processes sit in a leaf`,
      );
    }
    return new CgroupRoot(2, name, { memory: parent, pids: parent, cpu: parent, cpuacct: parent });
  }

  /**
   * Creates a sandbox's cgroups, with their limits unless they come later (applyLimits, before anything but berth's
   * own launcher runs there); `uid` may then join them (it writes its own pid).
   */
  create(id: string, limits: CgroupLimits | undefined, uid: number): SandboxCgroups {
    const dirs = this.#dirsOf(id);
    for (const dir of dirs) mkdirSync(dir);
    const cgroups = this.adopt(id);
    if (limits) cgroups.applyLimits(limits);
    for (const dir of dirs) chownSync(join(dir, 'cgroup.procs'), uid, uid);
    return cgroups;
  }

  /**
   * Gives sandbox `from`'s cgroups the name `to`, processes and limits kept, and returns them. cgroup v2 refuses to
   * rename a cgroup: there they keep their name, which the caller logs.
   */
  rename(from: string, to: string): { cgroups: SandboxCgroups; renamed: boolean } {
    if (this.version === 2) return { cgroups: this.adopt(from), renamed: false };
    for (const parent of this.#uniqueDirs()) renameSync(join(parent, from), join(parent, to));
    return { cgroups: this.adopt(to), renamed: true };
  }

  /**
   * The cgroups of a sandbox that something else creates under this root (runsc makes its sandbox's own from a
   * relative cgroups path): for reading usage and limit events, and for killing what is left.
   */
  adopt(id: string): SandboxCgroups {
    return new SandboxCgroups(this.version, this.#dirsOf(id), {
      memory: join(this.#parents.memory, id),
      pids: join(this.#parents.pids, id),
      cpu: join(this.#parents.cpu, id),
      cpuacct: join(this.#parents.cpuacct, id),
    });
  }

  /** Whether limits written by a process in this root's memory cgroup can cap swap too (cgroup v1 swap accounting). */
  get accountsSwap(): boolean {
    return this.version === 2 || existsSync(join(this.#parents.memory, 'memory.memsw.limit_in_bytes'));
  }

  /**
   * Removes this node's now-empty parents, in every hierarchy (runsc makes its sandboxes' cgroups in all of them);
   * a parent that still holds a sandbox's cgroup stays.
   */
  removeParents(): void {
    for (const dir of this.#everyParent()) tryRmdir(dir);
  }

  /**
   * Removes sandbox `id`'s cgroups from the hierarchies berth does not limit with (runsc makes them in every one),
   * once its processes are gone; a sandbox ended while runsc was still starting it leaves them otherwise.
   */
  removeFromEveryHierarchy(id: string): void {
    for (const parent of this.#everyParent()) tryRmdir(join(parent, id));
  }

  /** This node's parent in every cgroup hierarchy mounted here. */
  #everyParent(): Set<string> {
    const own = readOwnPaths();
    const parents = new Set(Object.values(this.#parents));
    for (const mount of readMounts()) {
      const controllers = mount.fstype === 'cgroup2' ? [''] : mount.options;
      const path = controllers.map((name) => own.get(name)).find((p) => p !== undefined);
      if (path !== undefined) parents.add(join(under(mount, path), this.name));
    }
    return parents;
  }

  /** Removes cgroups a previous run of this node left behind (berth was killed), killing what still runs there. */
  removeStale(): string[] {
    const removed: string[] = [];
    for (const parent of this.#uniqueDirs()) {
      for (const entry of readdirSync(parent, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        const dir = join(parent, entry.name);
        killAll(dir);
        if (tryRmdir(dir)) removed.push(entry.name);
      }
    }
    return removed;
  }

  #dirsOf(id: string): string[] {
    return this.#uniqueDirs().map((parent) => join(parent, id));
  }

  #uniqueDirs(): string[] {
    return [...new Set(Object.values(this.#parents))];
  }
}

/** One sandbox's cgroups. */
export class SandboxCgroups {
  readonly #version: 1 | 2;
  readonly #dirs: string[];
  readonly #byController: Record<Controller, string>;

  constructor(version: 1 | 2, dirs: string[], byController: Record<Controller, string>) {
    this.#version = version;
    this.#dirs = dirs;
    this.#byController = byController;
  }

  /** The `cgroup.procs` files a process writes its pid into to join. */
  get procsFiles(): string[] {
    return this.#dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  applyLimits(limits: CgroupLimits): void {
    const { memory, pids, cpu } = this.#byController;
    const quota = Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US));
    if (this.#version === 1) {
      writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // Swap would let a sandbox hold memory past its limit; where the kernel accounts swap, cap it at the same figure.
      if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      writeFileSync(join(pids, 'pids.max'), String(limits.pids));
      writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(quota));
      return;
    }
    writeFileSync(join(memory, 'memory.max'), String(limits.memoryBytes));
    if (existsSync(join(memory, 'memory.swap.max'))) writeFileSync(join(memory, 'memory.swap.max'), '0');
    writeFileSync(join(pids, 'pids.max'), String(limits.pids));
    writeFileSync(join(cpu, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
  }

  memoryBytes(): number | undefined {
    const file = join(this.#byController.memory, this.#version === 1 ? 'memory.usage_in_bytes' : 'memory.current');
    return readNumber(file);
  }

  /** CPU time the sandbox's processes have used, in seconds. */
  cpuSeconds(): number | undefined {
    if (this.#version === 1) {
      const nanos = readNumber(join(this.#byController.cpuacct, 'cpuacct.usage'));
      return nanos === undefined ? undefined : nanos / 1e9;
    }
    const micros = counter(join(this.#byController.cpu, 'cpu.stat'), 'usage_usec');
    return micros === undefined ? undefined : micros / 1e6;
  }

  /** How many times the kernel's OOM killer ended a process of this sandbox. */
  oomKills(): number {
    return counter(join(this.#byController.memory, this.#version === 1 ? 'memory.oom_control' : 'memory.events'), 'oom_kill') ?? 0;
  }

  /** Whether the pids limit refused a fork at some point. */
  pidsLimitHit(): boolean {
    return (counter(join(this.#byController.pids, 'pids.events'), 'max') ?? 0) > 0;
  }

  /** What the sandbox's limits have held back so far: CPU periods throttled, forks refused. */
  limitCounters(): LimitCounters {
    const cpuStat = join(this.#byController.cpu, 'cpu.stat');
    const periods = counter(cpuStat, 'nr_throttled');
    const waited = this.#version === 1 ? (counter(cpuStat, 'throttled_time') ?? 0) / 1000 : (counter(cpuStat, 'throttled_usec') ?? 0);
    const refused = counter(join(this.#byController.pids, 'pids.events'), 'max');
    return {
      ...(periods !== undefined ? { cpuThrottled: { periods, usec: waited } } : {}),
      ...(refused !== undefined ? { pidsRefused: refused } : {}),
    };
  }

  pids(): number[] {
    return readPids(this.#byController.pids);
  }

  /** Kills every process left in the sandbox's cgroups and removes them. */
  async destroy(): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      for (const dir of this.#dirs) killAll(dir);
      if (this.#dirs.every((dir) => !existsSync(dir) || tryRmdir(dir))) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`cgroups ${this.#dirs.join(', ')} still hold processes after repeated SIGKILL`);
  }
}

/** The number after `key` in a cgroup file of `key value` lines; undefined when the file or the key is missing. */
function counter(file: string, key: string): number | undefined {
  try {
    const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function readPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killAll(dir: string): void {
  if (existsSync(join(dir, 'cgroup.kill'))) {
    try {
      writeFileSync(join(dir, 'cgroup.kill'), '1');
      return;
    } catch {
      // fall through to killing one by one
    }
  }
  for (const pid of readPids(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    return false;
  }
}
