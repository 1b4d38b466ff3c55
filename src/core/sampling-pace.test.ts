import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { SamplingPace } from './sampling-pace.ts';

/** One step at a time: a mock tick moves the clock to its end before it runs the timers it passes. */
const advance = (ms: number): void => {
  for (let i = 0; i < ms / 500; i++) mock.timers.tick(500);
};

test('samples at the busy pace while in use and for a while after, once more later, then not at all until used again', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    const at: number[] = [];
    const pace = new SamplingPace(() => at.push(Date.now()), { busyMs: 1000, trailingMs: 15_000, quietMs: 10_000 });
    advance(10_000);
    assert.deepEqual(at, [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000]);
    at.length = 0;
    advance(600_000);
    assert.deepEqual(at, [15_000], 'quiet: one trailing sample, then no wakeup at all');
    at.length = 0;
    pace.active();
    advance(3000);
    assert.deepEqual(at, [611_000, 612_000, 613_000], 'used again: every second at once');
    pace.stop();
    at.length = 0;
    advance(60_000);
    assert.deepEqual(at, []);
  } finally {
    mock.timers.reset();
  }
});

test('a lasting use keeps the busy pace while it lasts; at its end a due sample is taken at once, one trails it, and then none', () => {
  mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'] });
  try {
    const at: number[] = [];
    const pace = new SamplingPace(() => at.push(Date.now()), { busyMs: 1000, trailingMs: 15_000, quietMs: 0 });
    advance(20_000);
    assert.deepEqual(at, [15_000], 'never used: the trailing sample of its start');
    at.length = 0;
    // A call of 3.5 s: sampled every second while it runs; its end, half a second after a sample, a second after it.
    const end = pace.begin();
    advance(3500);
    assert.deepEqual(at, [21_000, 22_000, 23_000]);
    end();
    end();
    mock.timers.tick(0);
    assert.deepEqual(at, [21_000, 22_000, 23_000], 'at most one sample a second');
    advance(500);
    assert.deepEqual(at, [21_000, 22_000, 23_000, 24_000], "the call's end is seen");
    at.length = 0;
    advance(9500);
    assert.deepEqual(at, [], 'between calls: nothing until the trailing sample is due');
    // Short calls now and then: each is sampled as it ends (at most once a second), and nothing wakes in between.
    for (let i = 0; i < 3; i++) {
      pace.begin()();
      mock.timers.tick(0);
      advance(3000);
    }
    assert.deepEqual(at, [33_500, 36_500, 39_500]);
    at.length = 0;
    pace.begin()();
    pace.begin()();
    mock.timers.tick(0);
    assert.deepEqual(at, [42_500], 'two calls within a second: one sample');
    at.length = 0;
    advance(300_000);
    assert.deepEqual(at, [43_500, 57_500], "the second call's end, a second after the last sample; the trailing sample; then nothing");
    pace.stop();
  } finally {
    mock.timers.reset();
  }
});

test('calls ending many times a second keep the one timer already due, and are still sampled once a second', () => {
  mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'] });
  const set = mock.fn();
  const cleared = mock.fn();
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  try {
    const at: number[] = [];
    const pace = new SamplingPace(() => at.push(Date.now()), { busyMs: 1000, trailingMs: 15_000, quietMs: 0 });
    pace.begin()();
    mock.timers.tick(0);
    mock.timers.tick(10);
    pace.begin()();
    // From here on, count the timers set and cleared: ninety more calls in the same second reuse the timer due.
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => (set(), realSet(...args))) as typeof setTimeout;
    globalThis.clearTimeout = ((...args: Parameters<typeof clearTimeout>) => (cleared(), realClear(...args))) as typeof clearTimeout;
    for (let i = 0; i < 90; i++) {
      mock.timers.tick(10);
      pace.begin()();
    }
    assert.equal(set.mock.callCount(), 0, 'no timer set per call');
    assert.equal(cleared.mock.callCount(), 0, 'none cleared either');
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
    mock.timers.tick(100);
    // The mock clock stands at the tick's end when the timer due at 1 000 runs.
    assert.deepEqual(at, [1010], 'one sample, a second after the last, for all those calls');
    pace.stop();
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
    mock.timers.reset();
  }
});
