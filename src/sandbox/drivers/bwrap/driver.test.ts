import { chmodSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { runDriverContract } from '../../../../test/helpers/driver-contract.ts';
import { fixtureDir } from '../../../../test/helpers/fixtures.ts';
import { superviseOnHost } from '../../../../test/helpers/host-supervision.ts';
import { silentLogger } from '../../../observability/logger.ts';
import { buildSupervisor } from '../../supervisor-program.ts';
import { BwrapDriver } from './driver.ts';

const state = mkdtempSync(join(tmpdir(), 'berth-bwrap-contract-'));
chmodSync(state, 0o711);
after(() => rmSync(state, { recursive: true, force: true }));

runDriverContract('bwrap', {
  unsupported: BwrapDriver.unsupportedReason(),
  makeDriver: async () =>
    BwrapDriver.create({
      stateDir: join(state, 'sandboxes'),
      supervisorPath: await buildSupervisor(join(state, 'cache')),
      nodePath: realpathSync(process.execPath),
      uidBase: 250_000 + (process.pid % 1000) * 50,
      uidCount: 50,
      logger: silentLogger,
      superviseOnHost,
    }),
  fixtureDir: () => fixtureDir('counter-server'),
  neverListensDir: () => fixtureDir('never-listens'),
});
