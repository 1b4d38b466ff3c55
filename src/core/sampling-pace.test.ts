import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { SamplingPace } from './sampling-pace.ts';

test('samples at the busy pace while in use, at the idle pace once quiet, and at the busy pace again when used', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    const at: number[] = [];
    // One step at a time: a mock tick moves the clock to its end before it runs the timers it passes.
    const advance = (ms: number): void => {
      for (let i = 0; i < ms / 500; i++) mock.timers.tick(500);
    };
    const pace = new SamplingPace(() => at.push(Date.now()), { busyMs: 1000, idleMs: 15_000, quietMs: 10_000 });
    advance(10_000);
    assert.deepEqual(at, [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000]);
    at.length = 0;
    advance(40_000);
    assert.deepEqual(at, [25_000, 40_000], 'quiet: every 15 s');
    at.length = 0;
    advance(1000);
    pace.active();
    advance(3000);
    assert.deepEqual(at, [52_000, 53_000, 54_000], 'used again: every second at once');
    pace.stop();
    at.length = 0;
    advance(60_000);
    assert.deepEqual(at, []);
  } finally {
    mock.timers.reset();
  }
});
