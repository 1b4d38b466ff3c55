import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runtimeSpec } from '../../test/helpers/runtime-spec.ts';
import type { VersionRecord } from '../store/store.ts';
import { limitsOf, sessionTarget, type SandboxDefaults } from './runtime-target.ts';

const MIB = 1024 * 1024;

const DEFAULTS: SandboxDefaults = {
  startTimeoutMs: 30_000,
  inputTimeoutMs: 60_000,
  logBytes: 64 * 1024,
  limits: { memoryBytes: 512 * MIB, pids: 256, cpus: 1, tmpBytes: 64 * MIB, workspaceBytes: 128 * MIB, openFiles: 1024 },
  perSession: { subscriptions: 10, listeners: 10, pendingInputs: 10 },
};

function version(spec: Partial<VersionRecord['spec']> = {}): VersionRecord {
  return {
    runtime: 'weather',
    version: 3,
    createdAt: '2026-01-01T00:00:00.000Z',
    spec: runtimeSpec({ artifactId: 'art_abc', env: { MODE: 'test' }, ...spec }),
  };
}

test("a version's session runs its spec over the node's defaults", () => {
  const target = sessionTarget(version(), { artifactDir: '/art/abc', secrets: undefined }, DEFAULTS);
  assert.deepEqual(target, {
    runtime: 'weather',
    version: 3,
    idleTimeoutSeconds: 900,
    maxLifetimeSeconds: 28_800,
    sandbox: {
      runtime: 'weather',
      artifactDir: '/art/abc',
      command: 'node server.js',
      transport: 'stdio',
      protocol: 'mcp',
      port: 8000,
      path: '/mcp',
      env: { MODE: 'test' },
      limits: DEFAULTS.limits,
      startTimeoutMs: 30_000,
      era: 'auto',
      inputTimeoutMs: 60_000,
      perSession: DEFAULTS.perSession,
      logBytes: 64 * 1024,
    },
  });
});

test('secret variables join the environment and go along apart, to be hidden in the output', () => {
  const { sandbox } = sessionTarget(version(), { artifactDir: '/a', secrets: { TOKEN: 's3cret' } }, DEFAULTS);
  assert.deepEqual(sandbox.env, { MODE: 'test', TOKEN: 's3cret' });
  assert.deepEqual(sandbox.secrets, ['s3cret']);
});

test("a runtime's driver and network go to its sandboxes; unset, the node decides", () => {
  const { sandbox } = sessionTarget(
    version({ driver: 'gvisor', network: { mode: 'egress', allow: ['example.com'] } }),
    { artifactDir: '/a', secrets: undefined },
    DEFAULTS,
  );
  assert.equal(sandbox.driver, 'gvisor');
  assert.deepEqual(sandbox.network, { mode: 'egress', allow: ['example.com'] });
});

test("a runtime's own limits, in MiB, take the place of the node's, in bytes; the rest stay the node's", () => {
  assert.equal(limitsOf(undefined, DEFAULTS.limits), DEFAULTS.limits);
  assert.deepEqual(limitsOf({ memoryMb: 256, workspaceMb: 10, pids: 64 }, DEFAULTS.limits), {
    memoryBytes: 256 * MIB,
    pids: 64,
    cpus: 1,
    tmpBytes: 64 * MIB,
    workspaceBytes: 10 * MIB,
    openFiles: 1024,
  });
  assert.deepEqual(limitsOf({ cpus: 0.5, openFiles: 4096 }, DEFAULTS.limits), { ...DEFAULTS.limits, cpus: 0.5, openFiles: 4096 });
});
