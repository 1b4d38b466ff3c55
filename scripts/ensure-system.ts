/**
 * Makes sure this machine has what berth's drivers need: bubblewrap (the default) and gVisor's runsc. Run as root it
 * installs bubblewrap with apt and runsc with scripts/install-runsc.sh; otherwise it says exactly what to install.
 * Used before `npm test` and `npm run demo`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`berth needs Node 24; this is ${process.version}. Run through npm scripts, which use the Node pinned in node_modules.\n`);
  process.exit(1);
}

const bwrap = ['/usr/bin/bwrap', '/usr/local/bin/bwrap'].some((path) => existsSync(path));
if (!bwrap) {
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    process.stderr.write("installing bubblewrap (berth's sandbox) with apt-get\n");
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'bubblewrap'], { stdio: 'inherit', env });
  } else {
    process.stderr.write(
      'berth sandboxes sessions with bubblewrap, which is not installed.\n' +
        '  Debian/Ubuntu: sudo apt-get install -y bubblewrap\n' +
        'The bwrap driver also needs berth to run as root (each sandbox gets its own uid and cgroups);\n' +
        'tests that need it are skipped with that reason, and the demo falls back to the unisolated process driver.\n',
    );
  }
}

const runsc = '/var/cache/berth/runsc/runsc';
if (!existsSync(runsc) && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  process.stderr.write("fetching gVisor's runsc (the gvisor driver) into /var/cache/berth/runsc\n");
  try {
    execFileSync('bash', [fileURLToPath(new URL('install-runsc.sh', import.meta.url))], { stdio: 'inherit' });
  } catch {
    process.stderr.write('runsc could not be fetched; gvisor driver tests are skipped with the reason\n');
  }
}
