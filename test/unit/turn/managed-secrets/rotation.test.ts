// The rotation's arithmetic (src/turn/managed-secrets/rotation.ts): a new secret once the
// newest is an interval old, a secret removed only once a newer one took over at least
// retireAfterMs ago, and, over many intervals and many settings, never more of ours in the
// set than ceil((ttl + margin) / interval) + 2; others' members never touched.

import fc from 'fast-check';
import {
  due,
  generateSecret,
  maxManagedSecrets,
  retired,
  rotate,
  type RotationPolicy,
} from '../../../../src/turn/managed-secrets/rotation.js';
import { secretId, type ManagedSecret } from '../../../../src/turn/managed-secrets/secret-store.js';
import { refreshIntervalMs } from '../../../../src/turn/managed-secrets/signing-secret.js';
import { manualClock } from '../../../helpers/clock.js';
import { memoryStore } from './memory-store.js';

const secret = (createdMs: number): ManagedSecret => ({ id: secretId(`s${createdMs}`), value: `s${createdMs}`, createdMs });

describe('when a new secret is due', () => {
  it('with none of ours, at once; then once the newest is an interval old', () => {
    expect(due([], 0, 1000)).toBe(true);
    expect(due([secret(0), secret(5000)], 5999, 1000)).toBe(false);
    expect(due([secret(0), secret(5000)], 6000, 1000)).toBe(true);
  });
});

describe('which secrets are retired', () => {
  const policy: RotationPolicy = { intervalMs: 1000, retireAfterMs: 3000 };

  it('one whose successor took over retireAfterMs ago, never the newest', () => {
    const ours = [secret(0), secret(1000), secret(2000)];
    expect(retired(ours, 3999, policy)).toEqual([]);
    expect(retired(ours, 4000, policy)).toEqual([secret(0)]);
    expect(retired(ours, 5000, policy)).toEqual([secret(0), secret(1000)]);
    expect(retired(ours, 1e12, policy)).toEqual([secret(0), secret(1000)]);
  });
});

describe('the bound', () => {
  it('is ceil((ttl + margin) / interval) + 2', () => {
    expect(maxManagedSecrets(3600, 60, 86_400)).toBe(3);
    expect(maxManagedSecrets(4, 1, 2)).toBe(5);
    expect(maxManagedSecrets(10, 0, 5)).toBe(4);
  });

  it('holds over many intervals, whatever the lifetime, margin and interval, and the switch time allows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 997 }),
        async (ttlSeconds, marginSeconds, intervalSeconds, tickMs) => {
          const clock = manualClock(1_700_000_000_000);
          const store = memoryStore(clock);
          store.members.add('an operator secret');
          const intervalMs = intervalSeconds * 1000;
          // As signing-secret.ts derives it: two refresh intervals to switch.
          const policy = {
            intervalMs,
            retireAfterMs: 2 * refreshIntervalMs(intervalMs) + (ttlSeconds + marginSeconds) * 1000,
          };
          const bound = maxManagedSecrets(ttlSeconds, marginSeconds, intervalSeconds);
          let most = 0;
          // Rotations at irregular moments (every tickMs), over 30 intervals and the lifetime.
          const durationMs = 30 * intervalMs + 2 * (ttlSeconds + marginSeconds) * 1000;
          const endMs = clock.nowMs() + durationMs;
          const stepMs = Math.max(tickMs, intervalMs / 7);
          let created = 0;
          while (clock.nowMs() < endMs) {
            const outcome = await rotate(store, policy, { nowMs: () => clock.nowMs(), lockTtlMs: 5000 });
            if (outcome?.created) created += 1;
            most = Math.max(most, (await store.read()).ours.length);
            clock.advance(stepMs);
          }
          expect(most).toBeLessThanOrEqual(bound);
          // A new secret at the first rotation an interval after the last: one per interval and step at least.
          expect(created).toBeGreaterThanOrEqual(Math.floor(durationMs / (intervalMs + stepMs)));
          expect(store.members.has('an operator secret')).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('one rotation', () => {
  it('removes what is retired and stale marks, adds one secret when due, leaves others be', async () => {
    const clock = manualClock(1_000_000);
    const store = memoryStore(clock);
    const policy: RotationPolicy = { intervalMs: 1000, retireAfterMs: 2500 };
    store.members.add('operator');
    store.marks.set('0123456789abcdef', '5');
    const values = ['first', 'second', 'third'];
    const created: string[] = [];
    for (let i = 0; i < 3; i++) {
      const outcome = await rotate(store, policy, { nowMs: () => clock.nowMs(), newSecret: () => values.shift()!, lockTtlMs: 5000 });
      if (outcome?.created) created.push(outcome.created.value);
      clock.advance(1000);
    }
    expect(created).toEqual(['first', 'second', 'third']);
    expect(store.marks.has('0123456789abcdef')).toBe(false);
    // At 1_003_000: 'second' took over at 1_001_000, 2 s ago, not yet 2.5 s.
    expect([...store.members].sort()).toEqual(['first', 'operator', 'second', 'third']);
    clock.advance(500);
    const outcome = await rotate(store, policy, { nowMs: () => clock.nowMs(), lockTtlMs: 5000 });
    expect(outcome).toEqual({ created: expect.objectContaining({ createdMs: 1_003_500 }) as unknown, removed: 1 });
    expect(store.members.has('first')).toBe(false);
    expect(store.members.has('operator')).toBe(true);
  });

  it('does nothing while another replica holds the lock', async () => {
    const clock = manualClock();
    const store = memoryStore(clock);
    expect(await store.lock('theirs', 5000)).toBe(true);
    expect(await rotate(store, { intervalMs: 1000, retireAfterMs: 1000 }, { nowMs: () => clock.nowMs(), lockTtlMs: 5000 })).toBe(undefined);
    expect(store.members.size).toBe(0);
    clock.advance(5000);
    expect(await rotate(store, { intervalMs: 1000, retireAfterMs: 1000 }, { nowMs: () => clock.nowMs(), lockTtlMs: 5000 })).toEqual({
      created: expect.anything() as unknown,
      removed: 0,
    });
  });
});

describe('a new secret', () => {
  it('is 256 random bits in base64url, different every time', () => {
    const values = Array.from({ length: 100 }, generateSecret);
    for (const value of values) {
      expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(value, 'base64url')).toHaveLength(32);
    }
    expect(new Set(values).size).toBe(100);
  });
});
