import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Where scripts/install-runsc.sh puts runsc, the first place the driver looks. */
export const INSTALLED_RUNSC = '/var/cache/berth/runsc/runsc';
/** systrap, the platform berth uses (KVM guests hang on PVM hosts, ptrace is slow), arrived in mid-2023 builds. */
const OLDEST_BUILD = 20230601;
const INSTALL_HINT =
  "run scripts/install-runsc.sh (it fetches bookworm-backports' runsc into /var/cache/berth/runsc without changing apt sources) or set BERTH_RUNSC";

/** The runsc binary to use; the explicit one when given, else the installed one, else one on the usual paths. */
export function findRunsc(explicit?: string): string | undefined {
  const candidates = explicit ? [explicit] : [INSTALLED_RUNSC, '/usr/local/bin/runsc', '/usr/bin/runsc'];
  return candidates.find((path) => existsSync(path));
}

/** Why this host cannot run gVisor sandboxes with `runsc`, or undefined when it can. */
export function runscUnsupportedReason(runsc: string | undefined): string | undefined {
  if (process.platform !== 'linux') return 'gVisor sandboxes need Linux';
  if (process.getuid?.() !== 0) return "the gvisor driver runs as root: runsc makes each sandbox's namespaces and cgroups";
  if (!runsc) return `runsc is not installed: ${INSTALL_HINT}`;
  const version = spawnSync(runsc, ['--version'], { encoding: 'utf8', env: {}, timeout: 10_000 });
  if (version.status !== 0) return `${runsc} --version failed (${version.error?.message ?? version.stderr.trim()}): ${INSTALL_HINT}`;
  const build = /(\d{8})/.exec(version.stdout)?.[1];
  if (!build || Number(build) < OLDEST_BUILD) {
    return `${runsc} is too old (${version.stdout.split('\n')[0]}; the systrap platform needs a build from ${OLDEST_BUILD} or later): ${INSTALL_HINT}`;
  }
  return undefined;
}

/** Runs one runsc management command (kill, delete, list) against the driver's state root. */
export function runscCommand(runsc: string, root: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(runsc, ['--root', root, ...args], { env: {}, timeout: 30_000 }, (error, stdout, stderr) => resolve({ ok: !error, stdout, stderr }));
  });
}

/** Whether runsc still holds state for the container `id` (it leaves it when its `run` is killed). */
export function hasRunscState(root: string, id: string): boolean {
  try {
    return readdirSync(root).some((name) => name.includes(id));
  } catch {
    return false;
  }
}

/** Removes what runsc left for `id` beside its state: the control socket of a sandbox that was killed. */
export function removeRunscLeftovers(root: string, id: string): void {
  for (const name of readdirSync(root)) {
    if (name.includes(id)) rmSync(join(root, name), { force: true, recursive: true });
  }
}
