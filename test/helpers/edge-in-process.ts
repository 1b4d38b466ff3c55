/**
 * A berth node inside the test process, its sandboxes made by the fake driver (./fake-driver.ts): the edge's
 * pipeline runs for real (store, admission, session manager, channel, relay) on any machine, in milliseconds, with
 * no root and no child process. End-to-end suites start real nodes with real sandboxes (./berth.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/cli/api-client.ts';
import { packDirectory } from '../../src/cli/pack.ts';
import { loadServeConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startNode } from '../../src/server.ts';
import type { FakeDriver } from './fake-driver.ts';

export interface InProcessNode {
  url: string;
  api: ApiClient;
  /** Deploys runtime `name` (its channel is the fake driver's), with whatever else the spec names. */
  deploy(name: string, spec?: Record<string, unknown>): Promise<void>;
  logs(): string;
  close(): Promise<void>;
}

export async function startInProcess(driver: FakeDriver, env: Record<string, string> = {}): Promise<InProcessNode> {
  const home = mkdtempSync(join(tmpdir(), 'berth-edge-test-'));
  const config = loadServeConfig(['--port', '0', '--home', home, '--driver', 'process'], { BERTH_LOG_LEVEL: 'debug', ...env });
  const lines: string[] = [];
  const logger = createLogger({ level: config.logLevel, format: 'text', write: (line) => lines.push(line) });
  const node = await startNode(config, logger, { driver });
  const api = new ApiClient(node.url, readFileSync(join(home, 'keys', 'admin-key'), 'utf8').trim());
  const code = join(home, 'code');
  mkdirSync(code);
  writeFileSync(join(code, 'server.js'), '// the fake driver runs nothing\n');
  const { artifactId } = await api.uploadArtifact(packDirectory(code));
  return {
    url: node.url,
    api,
    deploy: async (name, spec = {}) => {
      await api.deploy(name, { artifactId, command: 'node server.js', transport: 'stdio', ...spec });
    },
    logs: () => lines.join('\n'),
    close: async () => {
      await node.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
