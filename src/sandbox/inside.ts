import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { placeFile } from './host-paths.ts';

/** Where things appear inside every isolating driver's sandbox: one filesystem view, whichever driver makes it. */
export const INSIDE = {
  app: '/app',
  home: '/workspace',
  run: '/run/berth',
  node: '/opt/berth/bin/node',
  supervisor: '/opt/berth/supervisor.cjs',
  path: '/opt/berth/bin:/usr/local/bin:/usr/bin:/bin',
  uid: 1000,
} as const;

const ETC_FILES: Record<string, string> = {
  passwd: `root:x:0:0:root:/:/usr/sbin/nologin\nsandbox:x:${INSIDE.uid}:${INSIDE.uid}:sandbox:${INSIDE.home}:/bin/sh\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n`,
  group: `root:x:0:\nsandbox:x:${INSIDE.uid}:\nnogroup:x:65534:\n`,
  hosts: '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n',
  'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  // Empty: a sandbox on the host's network gets the host's bound over it.
  'resolv.conf': '',
};

/** Writes the `/etc` every sandbox sees (read-only): its own users, loopback names, UTC. */
function writeSandboxEtc(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [name, content] of Object.entries(ETC_FILES)) writeFileSync(join(dir, name), content, { mode: 0o644 });
  // Without /etc/localtime, ICU searches all of /usr/share/zoneinfo for the local zone: some 20 ms on a
  // process's first date formatting (every HTTP answer has a Date header). Sandboxes run on UTC.
  rmSync(join(dir, 'localtime'), { force: true });
  symlinkSync('/usr/share/zoneinfo/Etc/UTC', join(dir, 'localtime'));
}

/**
 * The host files every isolating driver binds into its sandboxes, under its state directory: the `/etc`, berth's
 * Node and the supervisor. They must sit where sandboxes can reach them, whatever berth's own install path.
 */
export function placeSandboxFiles(stateDir: string, nodePath: string, supervisorPath: string): { etc: string; node: string; supervisor: string } {
  const etc = join(stateDir, 'etc');
  writeSandboxEtc(etc);
  const bin = join(stateDir, 'bin');
  return { etc, node: placeFile(nodePath, bin, 'node'), supervisor: placeFile(supervisorPath, bin, 'supervisor.cjs') };
}
