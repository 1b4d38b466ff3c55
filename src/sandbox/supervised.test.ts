import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import type { LogFields, Logger } from '../observability/logger.ts';
import type { SandboxSpec } from './driver.ts';
import { SupervisedSandbox } from './supervised.ts';

/** A logger that keeps what it is told. */
function recordingLogger(lines: Array<{ level: string; message: string; fields: LogFields }>): Logger {
  const at =
    (level: string) =>
    (message: string, fields: LogFields = {}) =>
      void lines.push({ level, message, fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

test("a supervisor that fails after start says why in berth's log, its secrets hidden", async () => {
  const lines: Array<{ level: string; message: string; fields: LogFields }> = [];
  // Stands in for a sandbox: it reports ready, then a failure naming a secret, and exits as the supervisor does.
  const script = `
    process.stdout.write(JSON.stringify({ type: 'ready', serverPid: 1, era: 'modern' }) + '\\n');
    setTimeout(() => {
      process.stdout.write(JSON.stringify({ type: 'failed', code: 'sandbox_failed', message: 'supervisor error: stack overflow near tok-s3cret-value' }) + '\\n');
      setTimeout(() => process.exit(1), 50);
    }, 50);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  // SAFETY: SupervisedSandbox reads only these fields of its spec.
  const spec = {
    id: 'sbx_test',
    runtime: 'rt',
    logBytes: 64 * 1024,
    secrets: ['tok-s3cret-value'],
    startTimeoutMs: 5_000,
    limits: {},
  } as unknown as SandboxSpec;
  const sandbox = new SupervisedSandbox({
    spec,
    child,
    channel: { socketPath: '/nonexistent' },
    logger: recordingLogger(lines),
    cleanup: async () => {},
    stats: () => ({}),
  });
  await sandbox.ready();
  const exit = await sandbox.exited;
  assert.equal(exit.reason, 'failed');
  const said = lines.find((line) => line.message === 'sandbox supervisor failed');
  assert.ok(said, JSON.stringify(lines));
  assert.equal(said.level, 'warn');
  assert.deepEqual(said.fields, { runtime: 'rt', sandbox: 'sbx_test', reason: 'berth: supervisor error: stack overflow near (secret)' });
  assert.ok(
    sandbox.output.tail(5).some((line) => line.includes('supervisor error: stack overflow near (secret)')),
    "and the session's own log keeps it",
  );
});
