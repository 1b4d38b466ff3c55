/**
 * kill -9: a berth node killed under load, during deploys and during an upload, then started again on the same
 * home. Every record it acknowledged is still there, and what the killed run left (sandbox directories and cgroups,
 * a half-received upload) is gone once the new run listens, which says what it removed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packDirectory } from '../../src/cli/pack.ts';
import { ownCgroupDir } from '../../src/sandbox/cgroups.ts';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

/** The cgroups of this home's bwrap sandboxes (berth nests them under its own memory cgroup, tagged by the home). */
function sandboxCgroups(home: string): string[] {
  const own = ownCgroupDir('memory');
  if (!own) return [];
  const tag = createHash('sha256')
    .update(realpathSync(join(home, 'sandboxes')))
    .digest('hex')
    .slice(0, 10);
  const parent = join(own.dir, `berth-${tag}`);
  if (!existsSync(parent)) return [];
  return readdirSync(parent, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
}

function entries(dir: string, prefix: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.startsWith(prefix)) : [];
}

async function killHard(node: BerthNode): Promise<void> {
  const exited = new Promise((resolve) => node.process.once('exit', resolve));
  node.process.kill('SIGKILL');
  await exited;
}

describe('a node killed with SIGKILL and started again on its home', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let home: string;
  let node: BerthNode | undefined;
  before(() => {
    home = mkdtempSync(join(tmpdir(), 'berth-crash-'));
  });
  after(async () => {
    await node?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  test('loses no acknowledged record and leaves nothing behind after its next start', async () => {
    node = await startBerth({ home });
    const counter = await fixtureDir('counter-server');
    await deploy(node, 'counter', counter);
    const key = await node.api.createKey({ runtime: 'counter', user: 'ada' });

    // Under load: live sessions with state, calls in flight.
    const sessions = await Promise.all([0, 1, 2].map(() => connectSession(node!.url, 'counter')));
    for (const session of sessions) assert.deepEqual(await session.call('increment'), { count: 1 });
    const inFlight = sessions.map((session) => session.call('wait', { ms: 60_000 }).catch((error: unknown) => error));

    // Deploys racing the kill: every version berth answered for must survive it.
    const { artifactId } = await node.api.uploadArtifact(packDirectory(counter));
    const acknowledged: number[] = [];
    let deploying = true;
    const deploys = (async () => {
      while (deploying) {
        try {
          acknowledged.push(
            (await node!.api.deploy('churn', { artifactId, command: 'node server.js stdio', transport: 'stdio', env: { N: String(acknowledged.length) } }))
              .version,
          );
        } catch {
          return;
        }
      }
    })();

    // An upload cut off part way: its staging directory is on disk when the node dies.
    const artifacts = join(home, 'artifacts');
    const upload = request(`${node.url}/v1/artifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.adminKey}`, 'content-type': 'application/octet-stream' },
    });
    upload.on('error', () => {});
    const tar = packDirectory(counter);
    for await (const chunk of tar) {
      upload.write(chunk);
      break;
    }
    await waitFor(() => entries(artifacts, '.incoming-').length > 0, 'the upload to be staged');
    await waitFor(() => acknowledged.length >= 3, 'some deploys to be acknowledged');

    await killHard(node);
    deploying = false;
    await deploys;
    await Promise.all(inFlight);
    upload.destroy();
    tar.destroy();
    for (const session of sessions) await session.close().catch(() => {});

    // What the killed run left, which the next start must take away.
    const leftDirs = entries(join(home, 'sandboxes'), 'sbx_');
    const leftCgroups = sandboxCgroups(home);
    assert.ok(leftDirs.length >= 3, 'the killed run left its sandbox directories');
    assert.ok(leftCgroups.length >= 3, 'the killed run left its sandbox cgroups');
    assert.ok(entries(artifacts, '.incoming-').length >= 1, 'the killed run left the staged upload');

    node = await startBerth({ home });
    // The new run makes launch slots of its own as it starts (sbx_ directories and cgroups too): none of the killed
    // run's may be among what is there.
    const stillThere = (left: string[], now: string[]): string[] => left.filter((name) => now.includes(name));
    assert.deepEqual(stillThere(leftDirs, entries(join(home, 'sandboxes'), 'sbx_')), []);
    assert.deepEqual(stillThere(leftCgroups, sandboxCgroups(home)), []);
    assert.deepEqual(entries(artifacts, '.incoming-'), []);
    assert.match(node.logs(), /removed sandboxes left by an earlier run of berth .*cgroups=\d+.*dirs=\d+/);
    assert.match(node.logs(), /removed artifact uploads that an unclean stop of berth cut short .*dirs=1/);

    // Every acknowledged record is there.
    const runtimes = (await (await node.admin('/v1/runtimes')).json()) as { runtimes: Array<{ name: string; latestVersion: number }> };
    assert.deepEqual(runtimes.runtimes.map((runtime) => runtime.name).sort(), ['churn', 'counter']);
    const churn = runtimes.runtimes.find((runtime) => runtime.name === 'churn');
    assert.ok(churn && churn.latestVersion >= Math.max(...acknowledged), `latest ${churn?.latestVersion}, acknowledged up to ${Math.max(...acknowledged)}`);
    const versions = (await (await node.admin('/v1/runtimes/churn/versions?limit=1000')).json()) as {
      versions: Array<{ version: number; spec: { env: Record<string, string> } }>;
    };
    const stored = new Map(versions.versions.map((version) => [version.version, version]));
    for (const version of acknowledged) assert.ok(stored.has(version), `acknowledged version ${version} is stored`);
    assert.deepEqual(
      [...stored.keys()].sort((a, b) => a - b),
      Array.from({ length: stored.size }, (_, i) => i + 1),
      'versions are whole, numbered without gaps',
    );
    assert.ok(
      (await node.api.keys()).some((listed) => listed.id === key.id),
      'the runtime key survived',
    );

    // And the node works: a session that had state starts afresh (its sandbox died with the node), others too.
    const again = await connectSession(node.url, 'counter', sessions[0]?.sessionId);
    try {
      assert.deepEqual(await again.call('increment'), { count: 1 });
    } finally {
      await again.close();
    }
  });
});
