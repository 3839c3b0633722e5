// A clock the test moves by hand, with the timers that run on it: cache expiry, credential
// expiry, rate-limit windows, timeouts and periodic work are checked exactly and without
// sleeping. Moving the clock fires the timers that fall due on the way, in order.

import type { Clock, TimerHandle, Timers } from '../../src/clock.js';

export interface ManualClock extends Clock, Timers {
  /**
   * Moves time on by `ms`, firing each timer that falls due on the way in the order of its
   * time (those due at the same moment in the order they were set, as Node does), each
   * seeing nowMs() at its own due time; a timer set by a callback fires too if it falls due
   * before the end. Callbacks run synchronously, inside advance(): what they start (a
   * promise, I/O) is for the test to await.
   */
  advance(ms: number): void;
  /**
   * Steps the wall clock to `ms` (as NTP may): timers count elapsed time, as Node's do, so
   * none moves or fires.
   */
  set(ms: number): void;
  /** Timers set and neither cleared nor, for a timeout, fired. */
  pendingTimers(): number;
}

interface ManualTimer {
  dueAtMs: number;
  /** When it was (re)armed: orders timers due at the same moment. */
  armed: number;
  readonly everyMs: number | undefined;
  readonly callback: () => void;
}

export function manualClock(startMs = 1_700_000_000_000): ManualClock {
  let nowMs = startMs;
  // Time as the timers count it: moved by advance() only.
  let elapsedMs = 0;
  let armings = 0;
  const timers = new Map<TimerHandle, ManualTimer>();

  const set = (callback: () => void, ms: number, repeat: boolean): TimerHandle => {
    // As Node: a delay under 1 ms is 1 ms (so an interval of 0 cannot spin advance() forever).
    const delayMs = Math.max(1, ms);
    const handle = {} as TimerHandle;
    timers.set(handle, { dueAtMs: elapsedMs + delayMs, armed: (armings += 1), everyMs: repeat ? delayMs : undefined, callback });
    return handle;
  };
  const clear = (handle: TimerHandle | undefined) => {
    if (handle !== undefined) timers.delete(handle);
  };
  const firesBefore = (a: ManualTimer, b: ManualTimer) => a.dueAtMs < b.dueAtMs || (a.dueAtMs === b.dueAtMs && a.armed < b.armed);
  /** The timer to fire first among those due by `untilMs`. */
  const nextDue = (untilMs: number): [TimerHandle, ManualTimer] | undefined => {
    let next: [TimerHandle, ManualTimer] | undefined;
    for (const entry of timers) {
      if (entry[1].dueAtMs <= untilMs && (next === undefined || firesBefore(entry[1], next[1]))) next = entry;
    }
    return next;
  };
  const moveTo = (targetMs: number) => {
    nowMs += targetMs - elapsedMs;
    elapsedMs = targetMs;
  };

  return {
    nowMs: () => nowMs,
    setTimeout: (callback, ms) => set(callback, ms, false),
    clearTimeout: clear,
    setInterval: (callback, ms) => set(callback, ms, true),
    clearInterval: clear,
    advance(ms) {
      const targetMs = elapsedMs + ms;
      for (let due = nextDue(targetMs); due !== undefined; due = nextDue(targetMs)) {
        const [handle, timer] = due;
        moveTo(timer.dueAtMs);
        if (timer.everyMs === undefined) {
          timers.delete(handle);
        } else {
          timer.dueAtMs += timer.everyMs;
          timer.armed = armings += 1;
        }
        timer.callback();
      }
      moveTo(targetMs);
    },
    set(ms) {
      nowMs = ms;
    },
    pendingTimers: () => timers.size,
  };
}
