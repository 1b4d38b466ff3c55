import type { RuntimeSpec } from '../../src/core/runtime-spec.ts';

/** A stored runtime spec of a small stdio server, with `overrides`: for tests of what keeps or reads specs. */
export function runtimeSpec(overrides: Partial<RuntimeSpec> = {}): RuntimeSpec {
  return {
    artifactId: 'art_1',
    command: 'node server.js',
    transport: 'stdio',
    port: 8000,
    path: '/mcp',
    protocol: 'mcp',
    serverEra: 'auto',
    env: {},
    idleTimeoutSeconds: 900,
    maxLifetimeSeconds: 28800,
    ...overrides,
  };
}
