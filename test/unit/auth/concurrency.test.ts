// The cap on calls in flight: callers beyond it wait first come first served, a full queue
// refuses at once, and a wait that runs out is refused; released slots pass straight on.

import { concurrencyLimit, type Permit } from '../../../src/auth/concurrency.js';
import { manualClock } from '../../helpers/clock.js';

function granted(permit: Permit): Extract<Permit, { granted: true }> {
  if (!permit.granted) throw new Error(`refused: ${permit.reason}`);
  return permit;
}

describe('concurrency limit', () => {
  test('grants up to the cap at once', async () => {
    const limit = concurrencyLimit({ maxInFlight: 3, maxWaiting: 0, maxWaitMs: 1000 });
    const permits = await Promise.all([limit.acquire(), limit.acquire(), limit.acquire()]);
    expect(permits.every((p) => p.granted)).toBe(true);
    expect(limit.inFlight).toBe(3);
    expect(await limit.acquire()).toEqual({ granted: false, reason: 'queue full' });
  });

  test('a waiter gets the slot a release frees, in arrival order', async () => {
    const limit = concurrencyLimit({ maxInFlight: 1, maxWaiting: 5, maxWaitMs: 60_000 });
    const first = granted(await limit.acquire());
    const order: string[] = [];
    const second = limit.acquire().then((p) => (order.push('second'), granted(p)));
    const third = limit.acquire().then((p) => (order.push('third'), granted(p)));
    expect(limit.waiting).toBe(2);
    first.release();
    (await second).release();
    (await third).release();
    expect(order).toEqual(['second', 'third']);
    expect(limit.inFlight).toBe(0);
    expect(limit.waiting).toBe(0);
  });

  test('a wait that runs out is refused and leaves the queue', async () => {
    const clock = manualClock();
    const limit = concurrencyLimit({ maxInFlight: 1, maxWaiting: 5, maxWaitMs: 20, timers: clock });
    const held = granted(await limit.acquire());
    const waiter = limit.acquire();
    clock.advance(19);
    expect(limit.waiting).toBe(1);
    clock.advance(1);
    expect(await waiter).toEqual({ granted: false, reason: 'waited too long' });
    expect(limit.waiting).toBe(0);
    held.release();
    expect(limit.inFlight).toBe(0);
    granted(await limit.acquire()).release();
  });

  test('releasing twice frees one slot only', async () => {
    const limit = concurrencyLimit({ maxInFlight: 2, maxWaiting: 0, maxWaitMs: 1000 });
    const a = granted(await limit.acquire());
    granted(await limit.acquire());
    a.release();
    a.release();
    expect(limit.inFlight).toBe(1);
    granted(await limit.acquire());
    expect((await limit.acquire()).granted).toBe(false);
  });
});
