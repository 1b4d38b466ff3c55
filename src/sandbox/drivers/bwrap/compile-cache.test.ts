/**
 * The supervisor's compile cache (issue 17): made once when the driver starts, readable by every sandbox's uid and
 * written by none, and each sandbox's supervisor is pointed at it, so none compiles the supervisor again. A cache
 * that cannot be made costs a warning, not the node.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { contractSpec } from '../../../../test/helpers/driver-contract.ts';
import { fixtureDir } from '../../../../test/helpers/fixtures.ts';
import { createLogger, silentLogger } from '../../../observability/logger.ts';
import { placeSandboxFiles } from '../../inside.ts';
import { buildSupervisor } from '../../supervisor-program.ts';
import { makeCompileCache } from './compile-cache.ts';
import { BwrapDriver } from './driver.ts';

const childrenOf = (pid: number): number[] => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);

describe("the supervisor's compile cache", { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  const state = mkdtempSync(join(tmpdir(), 'berth-compile-cache-'));
  chmodSync(state, 0o711);
  after(() => rmSync(state, { recursive: true, force: true }));

  test("is made at the driver's start, readable by every sandbox and read-only to all, and each supervisor starts from it", async () => {
    const stateDir = join(state, 'sandboxes');
    const driver = BwrapDriver.create({
      stateDir,
      supervisorPath: await buildSupervisor(join(state, 'cache')),
      nodePath: realpathSync(process.execPath),
      uidBase: 270_000 + (process.pid % 1000) * 20,
      uidCount: 20,
      logger: silentLogger,
    });
    try {
      const dir = join(stateDir, 'compile-cache');
      const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((name) => join(dir, name));
      const entries = files.filter((file) => statSync(file).isFile());
      assert.ok(entries.length > 0, 'V8 wrote compiled code');
      for (const file of entries) assert.equal(statSync(file).mode & 0o777, 0o644, `${file} is readable by any uid, writable by none of theirs`);
      const sandbox = await driver.start(contractSpec(await fixtureDir('counter-server'), 'stdio'));
      try {
        const [supervisor] = childrenOf(sandbox.pid).flatMap(childrenOf);
        const environ = readFileSync(`/proc/${supervisor}/environ`, 'utf8').split('\0');
        assert.ok(environ.includes('NODE_COMPILE_CACHE=/opt/berth/cache'), environ.join(' '));
      } finally {
        await sandbox.stop();
      }
    } finally {
      await driver.close();
    }
  });

  test('one that cannot be made is a warning, and sandboxes start without it', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', format: 'text', write: (line) => lines.push(line) });
    const stateDir = join(state, 'broken');
    const files = placeSandboxFiles(stateDir, realpathSync(process.execPath), await buildSupervisor(join(state, 'cache')));
    assert.equal(makeCompileCache(stateDir, '/nonexistent/bwrap', files, logger), undefined);
    assert.match(lines.join('\n'), /compile cache could not be made/);
    assert.deepEqual(readdirSync(stateDir).includes('compile-cache'), false, 'nothing half-made is left');
  });
});
