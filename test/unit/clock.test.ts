// Time as a dependency: Node's timers behind the Timers interface (an interval never keeps
// the process running, a timeout does, as Node's own), and the manual clock the tests run
// timers on, which fires what falls due in order, each at its own time.

import { systemTimers } from '../../src/clock.js';
import { manualClock } from '../helpers/clock.js';

/** The Node timer behind a handle, to ask whether it keeps the process running. */
const nodeTimer = (handle: unknown) => handle as NodeJS.Timeout;

describe('system timers', () => {
  test('an interval does not keep the process running; a timeout does, until cleared', () => {
    const interval = systemTimers.setInterval(() => {}, 60_000);
    const timeout = systemTimers.setTimeout(() => {}, 60_000);
    try {
      expect(nodeTimer(interval).hasRef()).toBe(false);
      expect(nodeTimer(timeout).hasRef()).toBe(true);
    } finally {
      systemTimers.clearInterval(interval);
      systemTimers.clearTimeout(timeout);
    }
  });

  test('a timeout fires once; clearing none, or one that fired, is harmless', async () => {
    let fired = 0;
    await new Promise<void>((resolve) => {
      const handle = systemTimers.setTimeout(() => {
        fired += 1;
        systemTimers.clearTimeout(handle);
        resolve();
      }, 1);
    });
    systemTimers.clearTimeout(undefined);
    systemTimers.clearInterval(undefined);
    expect(fired).toBe(1);
  });
});

describe('the manual clock', () => {
  test('advance fires what falls due on the way, in order of time, then of setting, each seeing its own time', () => {
    const clock = manualClock(1_000);
    const fired: string[] = [];
    const at = (name: string) => () => fired.push(`${name}@${clock.nowMs()}`);
    clock.setTimeout(at('late'), 30);
    clock.setTimeout(at('first-set'), 10);
    clock.setTimeout(at('second-set'), 10);
    clock.setTimeout(at('beyond'), 31);
    clock.advance(30);
    expect(fired).toEqual(['first-set@1010', 'second-set@1010', 'late@1030']);
    expect(clock.nowMs()).toBe(1_030);
    clock.advance(1);
    expect(fired.at(-1)).toBe('beyond@1031');
    expect(clock.pendingTimers()).toBe(0);
  });

  test('an interval fires at each of its times until cleared; a timer a callback sets fires within the same advance', () => {
    const clock = manualClock(0);
    const fired: number[] = [];
    const interval = clock.setInterval(() => fired.push(clock.nowMs()), 100);
    clock.setTimeout(() => clock.setTimeout(() => fired.push(-clock.nowMs()), 20), 150);
    clock.advance(350);
    expect(fired).toEqual([100, -170, 200, 300]);
    clock.clearInterval(interval);
    clock.advance(1_000);
    expect(fired).toHaveLength(4);
    expect(clock.pendingTimers()).toBe(0);
  });

  test('a cleared timer never fires; a delay under 1 ms is 1 ms, as in Node', () => {
    const clock = manualClock(0);
    let fired = 0;
    const cleared = clock.setTimeout(() => (fired += 100), 5);
    clock.clearTimeout(cleared);
    clock.setInterval(() => (fired += 1), 0);
    clock.advance(3);
    expect(fired).toBe(3);
  });

  test('set steps the wall clock only: timers count elapsed time and neither move nor fire', () => {
    const clock = manualClock(0);
    let fired = false;
    clock.setTimeout(() => (fired = true), 100);
    clock.set(1_000_000);
    expect(fired).toBe(false);
    clock.advance(99);
    expect(fired).toBe(false);
    clock.advance(1);
    expect(fired).toBe(true);
    expect(clock.nowMs()).toBe(1_000_100);
  });
});
