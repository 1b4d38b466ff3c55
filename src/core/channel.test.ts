import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSupervisorStatus } from './channel.ts';

test('activity reports carry calls waiting on clients and whether an agent is busy', () => {
  assert.deepEqual(parseSupervisorStatus('{"type":"activity","waiting":2,"busy":false}'), { type: 'activity', waiting: 2, busy: false });
  assert.deepEqual(parseSupervisorStatus('{"type":"activity","waiting":0,"busy":true}'), { type: 'activity', waiting: 0, busy: true });
});

test('malformed activity reports are ignored', () => {
  for (const line of [
    '{"type":"activity","waiting":1}',
    '{"type":"activity","waiting":-1,"busy":false}',
    '{"type":"activity","waiting":1.5,"busy":false}',
    '{"type":"activity","waiting":0,"busy":"yes"}',
    '{"type":"activity","waiting":0,"busy":1}',
    '{"type":"activity","busy":true}',
  ]) {
    assert.equal(parseSupervisorStatus(line), undefined, line);
  }
});

test('limit reports carry figures only, and anything else about them is refused', () => {
  assert.deepEqual(parseSupervisorStatus('{"type":"limit","limit":"workspace","used":4194304,"max":4194304,"detail":"ignored"}'), {
    type: 'limit',
    limit: 'workspace',
    used: 4194304,
    max: 4194304,
  });
  assert.equal(parseSupervisorStatus('{"type":"limit","limit":"memory","used":1,"max":1}'), undefined);
  assert.equal(parseSupervisorStatus('{"type":"limit","limit":"pids","used":"24","max":24}'), undefined);
  assert.equal(parseSupervisorStatus('{"type":"limit","limit":"openFiles","used":1.5,"max":128}'), undefined);
});
