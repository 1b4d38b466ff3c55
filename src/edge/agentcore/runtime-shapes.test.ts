/**
 * AgentCore's `hooksConfiguration` on berth's runtimes: the build phase's warmup hook becomes the runtime's
 * `warmup`, shown back as it was given; a hook berth does not run is refused by name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BerthError } from '../../core/errors.ts';
import { deployInputOf, UpdateRuntimeInput } from './runtime-shapes.ts';

const artifact = { codeConfiguration: { code: { s3: { bucket: 'berth', prefix: 'art_abc' } }, runtime: 'NODE_22', entryPoint: ['agent.js'] } };
const deployOf = (hooksConfiguration: unknown): Record<string, unknown> =>
  deployInputOf(UpdateRuntimeInput.parse({ agentRuntimeArtifact: artifact, hooksConfiguration }));

test("build.warmup's httpPost is the runtime's warmup hook, and the configuration is kept to be shown back", () => {
  const hooks = { build: { warmup: { action: { httpPost: { path: '/warmup', port: 9000 } } } } };
  const deploy = deployOf(hooks);
  assert.deepEqual(deploy.warmup, { path: '/warmup', port: 9000 });
  assert.deepEqual((deploy.agentcore as Record<string, unknown>).hooksConfiguration, hooks);
  assert.deepEqual(deployOf({ build: { warmup: { action: { httpPost: { path: '/warm' } } } } }).warmup, { path: '/warm' }, "no port: the agent's own");
  assert.equal(deployOf({ build: {} }).warmup, undefined);
});

test('a hook berth does not run, or a malformed one, is a validation error naming the field', () => {
  for (const hooks of [
    { build: { warmup: { action: { exec: { command: 'x' } } } } },
    { build: { warmup: { action: { httpPost: { path: '/w', port: 70000 } } } } },
    { build: { warmup: { action: {} } } },
    { run: { prestop: {} } },
    { build: { warmup: { action: { httpPost: { path: '' } } } } },
  ]) {
    assert.throws(
      () => deployOf(hooks),
      (error: unknown) => error instanceof BerthError && error.code === 'validation_failed' && /hooksConfiguration/.test(error.message),
      JSON.stringify(hooks),
    );
  }
});
