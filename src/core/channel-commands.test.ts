import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandEvent, parseCommandRequest } from './channel-commands.ts';
import { isBerthError } from './errors.ts';

test('a command request takes a command and a timeout, 300 s unless given', () => {
  assert.deepEqual(parseCommandRequest({ command: 'ls -la' }), { command: 'ls -la', timeoutSeconds: 300 });
  assert.deepEqual(parseCommandRequest({ command: 'x'.repeat(65_536), timeoutSeconds: 3600 }), { command: 'x'.repeat(65_536), timeoutSeconds: 3600 });
  assert.deepEqual(parseCommandRequest({ command: 'true', timeoutSeconds: 1 }), { command: 'true', timeoutSeconds: 1 });
});

test('bad command requests are validation_failed', () => {
  const bad = [
    null,
    'ls',
    ['ls'],
    {},
    { command: '' },
    { command: 7 },
    { command: 'x'.repeat(65_537) },
    { command: 'a\0b' },
    { command: 'ls', timeoutSeconds: 0 },
    { command: 'ls', timeoutSeconds: 3601 },
    { command: 'ls', timeoutSeconds: 2.5 },
    { command: 'ls', timeoutSeconds: '30' },
    { command: 'ls', timeout: 30 },
  ];
  for (const value of bad) {
    assert.throws(
      () => parseCommandRequest(value),
      (error) => isBerthError(error) && error.code === 'validation_failed',
      JSON.stringify(value)?.slice(0, 60),
    );
  }
});

test('command events from a sandbox are one of three exact shapes', () => {
  assert.deepEqual(parseCommandEvent('{"stdout":"hi\\n"}'), { stdout: 'hi\n' });
  assert.deepEqual(parseCommandEvent('{"stderr":""}'), { stderr: '' });
  assert.deepEqual(parseCommandEvent('{"exit":{"exitCode":0,"status":"COMPLETED"}}'), { exit: { exitCode: 0, status: 'COMPLETED' } });
  assert.deepEqual(parseCommandEvent('{"exit":{"status":"COMPLETED","exitCode":255}}'), { exit: { exitCode: 255, status: 'COMPLETED' } });
  assert.deepEqual(parseCommandEvent('{"exit":{"exitCode":-1,"status":"TIMED_OUT"}}'), { exit: { exitCode: -1, status: 'TIMED_OUT' } });
  for (const line of [
    '',
    'not json',
    'null',
    '[]',
    '"stdout"',
    '{}',
    '{"stdout":1}',
    '{"stdout":"a","stderr":"b"}',
    '{"stdout":"a","extra":true}',
    '{"exit":null}',
    '{"exit":{"exitCode":0}}',
    '{"exit":{"exitCode":0,"status":"DONE"}}',
    '{"exit":{"exitCode":0,"status":"TIMED_OUT"}}',
    '{"exit":{"exitCode":256,"status":"COMPLETED"}}',
    '{"exit":{"exitCode":1.5,"status":"COMPLETED"}}',
    '{"exit":{"exitCode":0,"status":"COMPLETED","more":1}}',
    '{"error":{"code":"internal","message":"x"}}',
  ]) {
    assert.equal(parseCommandEvent(line), undefined, line);
  }
});
