import { mkdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxLimits } from '../../driver.ts';
import { EGRESS_DIR_INSIDE } from '../../egress/open.ts';
import { INSIDE } from '../../inside.ts';
import { PTY_INSIDE } from '../../pty-module.ts';

/** Where the supervisor finds the host's end of the channel (read-only: it may connect, never replace). */
export const CHANNEL_DIR_INSIDE = '/run/berth-channel';
/** Size of the private `/run/berth` (a stdio server's FIFOs). */
const RUN_BYTES = 1024 * 1024;
/**
 * runsc's own host threads (the sandbox kernel, its gofer, systrap stubs) count against the host pids cgroup, which
 * is therefore a backstop above the sandbox's own limit; inside, RLIMIT_NPROC holds the sandbox to its `pids`.
 */
const HOST_THREADS = 256;
const CPU_PERIOD_US = 100_000;
/** clone(2)'s namespace flags: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NEW_FLAGS = [0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000];
const EPERM = 1;

/**
 * A seccomp filter gVisor applies inside the sandbox (`--oci-seccomp`): no new namespaces, as with bwrap. The
 * sandbox kernel would confine them, but the code that implements them is attack surface nobody needs.
 */
const SECCOMP = {
  defaultAction: 'SCMP_ACT_ALLOW',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'],
  syscalls: [
    { names: ['unshare', 'setns'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
    ...CLONE_NEW_FLAGS.map((flag) => ({
      names: ['clone'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: EPERM,
      args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
    })),
    // clone3 passes its flags in memory, out of a filter's reach. libc falls back to clone only on ENOSYS, which
    // gVisor gives for a traced call with no tracer (it answers SCMP_ACT_ERRNO with EPERM, whatever errnoRet says).
    { names: ['clone3'], action: 'SCMP_ACT_TRACE' },
  ],
};

export interface BundlePaths {
  rootfs: string;
  etc: string;
  node: string;
  supervisor: string;
  artifact: string;
  /** The host directory holding the channel socket and the server's environment file. */
  channelDir: string;
  /** The host directory holding the egress proxy's socket, under an egress policy. */
  egressDir?: string;
  /** node-pty for the shells, when this platform has it. */
  pty?: string;
}

/**
 * The sandbox's root: only mount points and the merged-/usr symlinks, read-only and shared by every sandbox;
 * everything with content is mounted over it.
 */
export function writeRootfs(dir: string): void {
  for (const sub of [
    'app',
    'dev',
    'etc',
    'proc',
    'sys',
    'tmp',
    'usr',
    'workspace',
    'run/berth',
    'run/berth-channel',
    'run/berth-egress',
    'opt/berth/bin',
    'opt/berth/pty',
  ]) {
    mkdirSync(join(dir, sub), { recursive: true, mode: 0o755 });
  }
  for (const file of [INSIDE.node, INSIDE.supervisor]) {
    if (!existsSync(join(dir, file))) writeFileSync(join(dir, file), '', { mode: 0o755 });
  }
  for (const [link, target] of [
    ['bin', 'usr/bin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
    ['sbin', 'usr/sbin'],
  ] as const) {
    if (!existsSync(join(dir, link))) symlinkSync(target, join(dir, link));
  }
}

/** The OCI runtime spec runsc runs: no capabilities, no new privileges, read-only system, private tmpfs state. */
export function ociConfig(options: {
  paths: BundlePaths;
  args: string[];
  env: Record<string, string>;
  limits: SandboxLimits;
  cgroupsPath: string;
  capSwap: boolean;
  hostNetwork: boolean;
}): unknown {
  const { paths, limits } = options;
  const readOnly = ['bind', 'rbind', 'ro', 'nosuid', 'nodev'];
  const tmpfs = (destination: string, mode: string, bytes: number, owner = true): unknown => ({
    destination,
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', `mode=${mode}`, ...(owner ? [`uid=${INSIDE.uid}`, `gid=${INSIDE.uid}`] : []), `size=${bytes}`],
  });
  const memory = { limit: limits.memoryBytes, ...(options.capSwap ? { swap: limits.memoryBytes } : {}) };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: INSIDE.uid, gid: INSIDE.uid, additionalGids: [] },
      args: options.args,
      env: Object.entries(options.env).map(([name, value]) => `${name}=${value}`),
      cwd: INSIDE.app,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: limits.openFiles, soft: limits.openFiles },
        { type: 'RLIMIT_NPROC', hard: limits.pids, soft: limits.pids },
      ],
      noNewPrivileges: true,
    },
    root: { path: paths.rootfs, readonly: true },
    hostname: 'sandbox',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'mode=755', 'size=65536'] },
      { destination: '/usr', type: 'bind', source: '/usr', options: readOnly },
      { destination: '/etc', type: 'bind', source: paths.etc, options: readOnly },
      { destination: INSIDE.node, type: 'bind', source: paths.node, options: readOnly },
      { destination: INSIDE.supervisor, type: 'bind', source: paths.supervisor, options: readOnly },
      { destination: INSIDE.app, type: 'bind', source: paths.artifact, options: readOnly },
      { destination: CHANNEL_DIR_INSIDE, type: 'bind', source: paths.channelDir, options: readOnly },
      ...(paths.egressDir ? [{ destination: EGRESS_DIR_INSIDE, type: 'bind', source: paths.egressDir, options: readOnly }] : []),
      ...(paths.pty ? [{ destination: PTY_INSIDE, type: 'bind', source: paths.pty, options: readOnly }] : []),
      ...(options.hostNetwork ? [{ destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: readOnly }] : []),
      tmpfs(INSIDE.run, '0700', RUN_BYTES),
      tmpfs(INSIDE.home, '0700', limits.workspaceBytes),
      tmpfs('/tmp', '1777', limits.tmpBytes, false),
      // gVisor would mount a sysfs of its own; the sandbox has no use for one.
      { destination: '/sys', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'mode=0555', 'size=4096'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, ...(options.hostNetwork ? [] : [{ type: 'network' }])],
      cgroupsPath: options.cgroupsPath,
      seccomp: SECCOMP,
      resources: {
        memory,
        cpu: { quota: Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)), period: CPU_PERIOD_US },
        pids: { limit: limits.pids + HOST_THREADS },
      },
    },
  };
}
