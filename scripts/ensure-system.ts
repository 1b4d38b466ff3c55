/**
 * Makes sure this machine has what berth's drivers need: bubblewrap (the default) and gVisor's runsc, and with
 * `--tests` what the tests need besides: PostgreSQL's server, which the cluster tests start on their own. Run as root
 * it installs them (apt, scripts/install-runsc.sh); otherwise it says exactly what to install.
 * Used before `npm test` and `npm run demo`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`berth needs Node 24; this is ${process.version}. Run through npm scripts, which use the Node pinned in node_modules.\n`);
  process.exit(1);
}

const canApt = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
let updated = false;
function aptInstall(what: string, pkg: string): void {
  process.stderr.write(`installing ${what} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!updated) execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  updated = true;
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkg.split(' ')], { stdio: 'inherit', env });
}

const bwrap = ['/usr/bin/bwrap', '/usr/local/bin/bwrap'].some((path) => existsSync(path));
if (!bwrap) {
  if (canApt) {
    aptInstall("bubblewrap (berth's sandbox)", 'bubblewrap');
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

const postgres = existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/postgres`));
// The metrics test reads /metrics with Prometheus' own text-format parser (its Python client) and promtool's lint.
if (process.argv.includes('--tests') && !existsSync('/usr/bin/promtool')) {
  if (canApt) aptInstall("Prometheus' promtool and Python client (the metrics test)", 'prometheus python3-prometheus-client');
  else
    process.stderr.write('the metrics test needs: sudo apt-get install -y prometheus python3-prometheus-client; without them it is skipped with that reason\n');
}
// The console's tests drive Debian's chromium (puppeteer-core downloads no browser).
if (process.argv.includes('--tests') && !existsSync('/usr/bin/chromium')) {
  if (canApt) aptInstall("chromium (the console's browser tests)", 'chromium');
  else process.stderr.write("the console's tests need: sudo apt-get install -y chromium; without it they are skipped with that reason\n");
}
if (process.argv.includes('--tests') && !postgres) {
  if (canApt) aptInstall('PostgreSQL (the cluster tests start their own server)', 'postgresql');
  else process.stderr.write("the cluster tests need PostgreSQL's server: sudo apt-get install -y postgresql; without it they are skipped with that reason\n");
}
