import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBerthError } from '../core/errors.ts';
import { RateLimiter } from './rate-limit.ts';

/** A limiter on a clock the test moves. */
function limiterAt(start = 1_000_000): { limiter: RateLimiter; advance(ms: number): void } {
  let now = start;
  return { limiter: new RateLimiter(() => now), advance: (ms) => void (now += ms) };
}

const refusal = (take: () => void): { code: string; retryAfter: number | undefined; message: string } => {
  try {
    take();
  } catch (error) {
    assert.ok(isBerthError(error));
    return { code: error.code, retryAfter: error.retryAfter, message: error.message };
  }
  assert.fail('the request was not refused');
};

test('a principal gets its burst, then 429 with the seconds until a token is back; others are not touched', () => {
  const { limiter, advance } = limiterAt();
  const limits = { principal: { perSecond: 0.5, burst: 2 } };
  limiter.take('r', limits, 'alice');
  limiter.take('r', limits, 'alice');
  const refused = refusal(() => limiter.take('r', limits, 'alice'));
  assert.deepEqual([refused.code, refused.retryAfter], ['rate_limited', 2]);
  assert.match(refused.message, /runtime "r" takes at most 0.5 requests a second from each caller; retry after 2 s/);
  limiter.take('r', limits, 'bob');
  limiter.take('other', limits, 'alice');
  advance(1000);
  assert.equal(refusal(() => limiter.take('r', limits, 'alice')).retryAfter, 1);
  advance(1000);
  limiter.take('r', limits, 'alice');
});

test('a runtime limit is shared by every caller, and a refused request costs no token anywhere', () => {
  const { limiter, advance } = limiterAt();
  const limits = { runtime: { perSecond: 1, burst: 3 }, principal: { perSecond: 1, burst: 2 } };
  limiter.take('r', limits, 'alice');
  limiter.take('r', limits, 'alice');
  assert.match(refusal(() => limiter.take('r', limits, 'alice')).message, /from each caller/);
  limiter.take('r', limits, 'bob');
  assert.match(refusal(() => limiter.take('r', limits, 'carol')).message, /takes at most 1 requests a second; retry after 1 s/);
  advance(1000);
  // alice's refused request took nothing: one token each came back in a second, and hers is there.
  limiter.take('r', limits, 'alice');
});

test('no limits, no counting; the burst defaults to one second of tokens', () => {
  const { limiter } = limiterAt();
  for (let i = 0; i < 1000; i++) limiter.take('r', undefined, 'alice');
  const limits = { principal: { perSecond: 5 } };
  for (let i = 0; i < 5; i++) limiter.take('r', limits, 'alice');
  assert.equal(refusal(() => limiter.take('r', limits, 'alice')).code, 'rate_limited');
});

test('in a cluster each node fills and refills a bucket by its share of the limit, never below one token', () => {
  let now = 1_000_000;
  const shares = new Map([['r\0r', 0.25]]);
  const asked: string[] = [];
  const limiter = new RateLimiter(() => now, { share: (key) => shares.get(key) ?? 0, demanded: (key) => void asked.push(key) });
  const limits = { runtime: { perSecond: 8, burst: 8 } };
  limiter.take('r', limits, 'alice');
  limiter.take('r', limits, 'alice');
  const refused = refusal(() => limiter.take('r', limits, 'alice'));
  assert.equal(refused.code, 'rate_limited', 'a quarter of a burst of 8 is 2');
  assert.equal(refused.retryAfter, 1, "the retry is timed by the cluster's rate: it may land on any node");
  assert.equal(asked.length, 3, 'every request counts as demand, refused or not');
  now += 500;
  limiter.take('r', limits, 'alice');
  assert.equal(refusal(() => limiter.take('r', limits, 'alice')).code, 'rate_limited', 'half a second at a quarter of 8 a second is one token');
  // A node with no share yet still admits one request, and so learns it has demand.
  shares.set('r\0other', 0);
  limiter.take('other', limits, 'alice');
  assert.equal(refusal(() => limiter.take('other', limits, 'alice')).code, 'rate_limited');
});
