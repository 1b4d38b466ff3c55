import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { runDriverContract } from '../../../../test/helpers/driver-contract.ts';
import { fixtureDir } from '../../../../test/helpers/fixtures.ts';
import { silentLogger } from '../../../observability/logger.ts';
import { buildSupervisor } from '../../supervisor-program.ts';
import { ProcessDriver } from './driver.ts';

const state = mkdtempSync(join(tmpdir(), 'berth-process-contract-'));
after(() => rmSync(state, { recursive: true, force: true }));

runDriverContract('process', {
  makeDriver: async () =>
    new ProcessDriver({
      stateDir: join(state, 'sandboxes'),
      supervisorPath: await buildSupervisor(join(state, 'cache')),
      nodePath: realpathSync(process.execPath),
      logger: silentLogger,
    }),
  fixtureDir: () => fixtureDir('counter-server'),
  neverListensDir: () => fixtureDir('never-listens'),
  skip: {
    'stop ends every process of the sandbox and is idempotent':
      'the process driver stops the process group; a process that starts its own session (setsid) escapes it',
  },
});
