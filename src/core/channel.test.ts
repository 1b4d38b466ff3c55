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
