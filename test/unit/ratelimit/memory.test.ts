// The in-process limiter: Synapse's per_second / burst_count semantics per key, on an
// injected clock, with its bounded, self-expiring storage never changing a decision.

import fc from 'fast-check';
import { memoryLimiter } from '../../../src/ratelimit/memory.js';
import { MAX_RETRY_AFTER_MS, takeAction, type BucketState } from '../../../src/ratelimit/synapse-bucket.js';
import type { RateDecision } from '../../../src/ratelimit/types.js';
import { manualClock } from '../../helpers/clock.js';

describe('burst 3, 0.5 per second', () => {
  it('allows three at once, denies the fourth with retry_after_ms 2000, allows again after 2 s', async () => {
    const clock = manualClock();
    const limiter = memoryLimiter({ perSecond: 0.5, burst: 3, clock });
    for (let i = 0; i < 3; i += 1) await expect(limiter.consume('@alice:example.org')).resolves.toEqual({ allowed: true });
    await expect(limiter.consume('@alice:example.org')).resolves.toEqual({ allowed: false, retryAfterMs: 2000 });
    clock.advance(1000);
    await expect(limiter.consume('@alice:example.org')).resolves.toEqual({ allowed: false, retryAfterMs: 1000 });
    clock.advance(1000);
    await expect(limiter.consume('@alice:example.org')).resolves.toEqual({ allowed: true });
    await expect(limiter.consume('@alice:example.org')).resolves.toEqual({ allowed: false, retryAfterMs: 2000 });
  });

  it('does not charge denied requests: hammering does not push the retry time out', async () => {
    const clock = manualClock();
    const limiter = memoryLimiter({ perSecond: 0.5, burst: 3, clock });
    for (let i = 0; i < 3; i += 1) await limiter.consume('@alice:example.org');
    for (let i = 0; i < 50; i += 1) await limiter.consume('@alice:example.org');
    clock.advance(1500);
    await expect(limiter.consume('@alice:example.org')).resolves.toEqual({ allowed: false, retryAfterMs: 500 });
    clock.advance(500);
    await expect(limiter.consume('@alice:example.org')).resolves.toEqual({ allowed: true });
  });

  it('keeps each user to their own bucket', async () => {
    const clock = manualClock();
    const limiter = memoryLimiter({ perSecond: 0.5, burst: 3, clock });
    for (let i = 0; i < 3; i += 1) await limiter.consume('@alice:example.org');
    await expect(limiter.consume('@alice:example.org')).resolves.toMatchObject({ allowed: false });
    await expect(limiter.consume('@bob:example.org')).resolves.toEqual({ allowed: true });
  });

  it('gives the whole burst back once the bucket has drained', async () => {
    const clock = manualClock();
    const limiter = memoryLimiter({ perSecond: 0.5, burst: 3, clock });
    for (let i = 0; i < 3; i += 1) await limiter.consume('@alice:example.org');
    clock.advance(6000);
    for (let i = 0; i < 3; i += 1) await expect(limiter.consume('@alice:example.org')).resolves.toEqual({ allowed: true });
    await expect(limiter.consume('@alice:example.org')).resolves.toMatchObject({ allowed: false });
  });
});

describe('other settings', () => {
  it('the defaults (0.1/s, burst 10): the eleventh request waits 10 s', async () => {
    const clock = manualClock();
    const limiter = memoryLimiter({ perSecond: 0.1, burst: 10, clock });
    for (let i = 0; i < 10; i += 1) await expect(limiter.consume('@a:example.org')).resolves.toEqual({ allowed: true });
    await expect(limiter.consume('@a:example.org')).resolves.toEqual({ allowed: false, retryAfterMs: 10_000 });
  });

  it('per_second 0: the burst is all there is, and the advised wait is capped at a day', async () => {
    const clock = manualClock();
    const limiter = memoryLimiter({ perSecond: 0, burst: 2, clock });
    await limiter.consume('@a:example.org');
    await limiter.consume('@a:example.org');
    clock.advance(365 * 86_400_000);
    await expect(limiter.consume('@a:example.org')).resolves.toEqual({ allowed: false, retryAfterMs: MAX_RETRY_AFTER_MS });
  });

  it('forgets the least recently active key first when it tracks maxKeys keys', async () => {
    const clock = manualClock();
    const limiter = memoryLimiter({ perSecond: 0.001, burst: 1, clock, maxKeys: 2 });
    await limiter.consume('@a:example.org');
    await limiter.consume('@b:example.org');
    await limiter.consume('@c:example.org'); // @a is forgotten: a fresh bucket next time
    await expect(limiter.consume('@c:example.org')).resolves.toMatchObject({ allowed: false });
    await expect(limiter.consume('@a:example.org')).resolves.toEqual({ allowed: true });
  });
});

describe('storage never changes a decision', () => {
  // Reference: Synapse's bucket per key, kept forever in a plain Map.
  function reference(settings: { perSecond: number; burst: number }) {
    const states = new Map<string, BucketState>();
    return (key: string, nowMs: number): RateDecision => {
      const outcome = takeAction(states.get(key), nowMs / 1000, settings);
      if (!outcome.allowed) return { allowed: false, retryAfterMs: outcome.retryAfterMs };
      states.set(key, outcome.state);
      return { allowed: true };
    };
  }

  it('decides exactly as a bucket per key kept forever, whatever the timing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0.1, 0.5, 1, 2.5, 10),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.constantFrom('@a:x', '@b:x', '@c:x'), fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 12_000 }))), {
          maxLength: 60,
        }),
        async (perSecond, burst, steps) => {
          const clock = manualClock();
          // A small maxKeys keeps each run cheap; three keys never reach it.
          const limiter = memoryLimiter({ perSecond, burst, clock, maxKeys: 16 });
          const expected = reference({ perSecond, burst });
          for (const [key, advanceMs] of steps) {
            clock.advance(advanceMs);
            expect(await limiter.consume(key)).toEqual(expected(key, clock.nowMs()));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a denied request is allowed once retry_after_ms has passed (1 ms more for the truncation)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0.5, 1, 2, 4),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 30 }),
        async (perSecond, burst, gapsMs) => {
          const clock = manualClock();
          const limiter = memoryLimiter({ perSecond, burst, clock, maxKeys: 16 });
          for (const gapMs of gapsMs) {
            clock.advance(gapMs);
            const decision = await limiter.consume('@a:x');
            if (!decision.allowed) {
              // Synapse truncates to whole ms; the exact time may be up to 1 ms later.
              clock.advance(decision.retryAfterMs + 1);
              expect(await limiter.consume('@a:x')).toEqual({ allowed: true });
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
